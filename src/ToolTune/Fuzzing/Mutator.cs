using System.Text;

namespace ToolTune.Fuzzing;

/// <summary>
/// Seeded byte-level mutations (libFuzzer-style, as SharpFuzz does not restore and no libFuzzer/AFL binary is
/// available): bit flips, random bytes, inserts, deletes, duplications, splices of another seed, dictionary tokens
/// and "interesting" numbers. One <see cref="Random"/> drives everything, so a seed replays the same inputs.
/// </summary>
public sealed class Mutator(int seed, IReadOnlyList<byte[]> dictionary)
{
    private readonly Random _rng = new(seed);

    // Numbers that break parsers: overflows, negatives, exponent extremes, NaN spellings.
    private static readonly string[] InterestingNumbers =
    [
        "0", "-1", "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807", "18446744073709551616",
        "1e308", "1e309", "-1e400", "1e-400", "NaN", "Infinity", "-0", "0.0000000000000000000001", "99999999999999999999999999999",
    ];

    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, int maxLength)
    {
        var buf = new List<byte>(input);
        var rounds = 1 + _rng.Next(4);
        for (var r = 0; r < rounds; r++) MutateOnce(buf, corpus);
        if (buf.Count > maxLength) buf.RemoveRange(maxLength, buf.Count - maxLength);
        return [.. buf];
    }

    private void MutateOnce(List<byte> b, IReadOnlyList<byte[]> corpus)
    {
        switch (_rng.Next(10))
        {
            case 0 when b.Count > 0: // bit flip
                { var i = _rng.Next(b.Count); b[i] ^= (byte)(1 << _rng.Next(8)); break; }
            case 1 when b.Count > 0: // random byte (incl. NUL, high bytes: invalid UTF-8)
                b[_rng.Next(b.Count)] = (byte)_rng.Next(256);
                break;
            case 2: // insert random bytes
                {
                    var n = 1 + _rng.Next(8);
                    var at = _rng.Next(b.Count + 1);
                    for (var k = 0; k < n; k++) b.Insert(at, (byte)_rng.Next(256));
                    break;
                }
            case 3 when b.Count > 1: // delete a range (truncation when it reaches the end)
                {
                    var at = _rng.Next(b.Count);
                    b.RemoveRange(at, 1 + _rng.Next(Math.Min(b.Count - at, 64)));
                    break;
                }
            case 4 when b.Count > 1: // duplicate a range (deep nesting, repeated keys)
                {
                    var at = _rng.Next(b.Count);
                    var len = 1 + _rng.Next(Math.Min(b.Count - at, 128));
                    var chunk = b.GetRange(at, len);
                    var times = 1 + _rng.Next(_rng.Next(4) == 0 ? 64 : 3);
                    var to = _rng.Next(b.Count + 1);
                    for (var k = 0; k < times; k++) b.InsertRange(to, chunk);
                    break;
                }
            case 5 when corpus.Count > 0: // splice: our prefix + another seed's suffix
                {
                    var other = corpus[_rng.Next(corpus.Count)];
                    if (other.Length == 0) break;
                    var cut = _rng.Next(b.Count + 1);
                    var from = _rng.Next(other.Length);
                    b.RemoveRange(cut, b.Count - cut);
                    b.AddRange(other.AsSpan(from).ToArray());
                    break;
                }
            case 6 or 7 when dictionary.Count > 0: // dictionary token, inserted or overwriting
                {
                    var token = dictionary[_rng.Next(dictionary.Count)];
                    var at = _rng.Next(b.Count + 1);
                    if (_rng.Next(2) == 0 && at + token.Length <= b.Count) b.RemoveRange(at, token.Length);
                    b.InsertRange(at, token);
                    break;
                }
            case 8: // replace a run of digits with an interesting number
                {
                    var start = FindDigit(b, _rng.Next(b.Count + 1));
                    var number = Encoding.ASCII.GetBytes(InterestingNumbers[_rng.Next(InterestingNumbers.Length)]);
                    if (start < 0) { b.InsertRange(_rng.Next(b.Count + 1), number); break; }
                    var end = start;
                    while (end < b.Count && (char.IsAsciiDigit((char)b[end]) || b[end] is (byte)'.' or (byte)'-' or (byte)'e')) end++;
                    b.RemoveRange(start, end - start);
                    b.InsertRange(start, number);
                    break;
                }
            default: // swap two bytes
                if (b.Count > 1)
                {
                    int i = _rng.Next(b.Count), j = _rng.Next(b.Count);
                    (b[i], b[j]) = (b[j], b[i]);
                }
                break;
        }
    }

    private static int FindDigit(List<byte> b, int from)
    {
        for (var k = 0; k < b.Count; k++)
        {
            var i = (from + k) % b.Count;
            if (char.IsAsciiDigit((char)b[i])) return i;
        }
        return -1;
    }

    public int Next(int max) => _rng.Next(max);
}
