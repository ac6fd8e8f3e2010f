using System.Text;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// Canonical normalization (NFC / NFD) with alignment back to the input, from generated Unicode tables.
/// .NET's <see cref="string.Normalize()"/> only handles ASCII under InvariantGlobalization, which this product uses.
/// </summary>
internal static class Nfc
{
    private static readonly Dictionary<int, byte> Ccc = BuildCcc();
    private static readonly Dictionary<int, int> DecompIndex = BuildDecomp();
    private static readonly Dictionary<long, int> Compose = BuildComp();

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static Dictionary<int, byte> BuildCcc()
    {
        var d = new Dictionary<int, byte>(NfcData.CccCodePoints.Length);
        for (int i = 0; i < NfcData.CccCodePoints.Length; i++) d[NfcData.CccCodePoints[i]] = NfcData.CccValues[i];
        return d;
    }

    private static Dictionary<int, int> BuildDecomp()
    {
        var d = new Dictionary<int, int>(NfcData.DecompCodePoints.Length);
        for (int i = 0; i < NfcData.DecompCodePoints.Length; i++) d[NfcData.DecompCodePoints[i]] = i;
        return d;
    }

    private static Dictionary<long, int> BuildComp()
    {
        var d = new Dictionary<long, int>(NfcData.CompPairs.Length);
        for (int i = 0; i < NfcData.CompPairs.Length; i++) d[NfcData.CompPairs[i]] = NfcData.CompValues[i];
        return d;
    }

    private static int CombiningClass(int cp) => cp < 0x300 ? 0 : Ccc.TryGetValue(cp, out var c) ? c : 0;

    /// <summary>True when the text is certainly NFC (all chars below U+0300) or, for NFD, below U+00C0.</summary>
    public static bool IsTriviallyNormalized(ReadOnlySpan<char> s, bool compose = true)
    {
        char limit = compose ? '\u0300' : '\u00C0';
        foreach (var c in s)
            if (c >= limit) return false;
        return true;
    }

    private struct Cp
    {
        public int Value, Ccc, Start, End;
    }

    /// <summary>Normalizes <paramref name="input"/>; <paramref name="map"/> gets, per output UTF-16 char, the
    /// input range it came from (null when the output is the input).</summary>
    public static string Normalize(string input, bool compose, out (int Start, int End)[]? map)
    {
        map = null;
        if (IsTriviallyNormalized(input, compose)) return input;
        var cps = new List<Cp>(input.Length);
        for (int i = 0; i < input.Length;)
        {
            int start = i;
            int cp;
            if (char.IsHighSurrogate(input[i]) && i + 1 < input.Length && char.IsLowSurrogate(input[i + 1]))
            {
                cp = char.ConvertToUtf32(input[i], input[i + 1]);
                i += 2;
            }
            else cp = input[i++];
            Decompose(cp, start, i, cps);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            var c = cps[i];
            if (c.Ccc == 0) continue;
            int j = i - 1;
            while (j >= 0 && cps[j].Ccc > c.Ccc)
            {
                cps[j + 1] = cps[j];
                j--;
            }
            cps[j + 1] = c;
            if (j + 1 < i)
            {
                // Reordered marks share the union of their input ranges, so offsets stay monotonic.
                int lo = int.MaxValue, hi = 0;
                for (int k = j + 1; k <= i; k++) { lo = Math.Min(lo, cps[k].Start); hi = Math.Max(hi, cps[k].End); }
                for (int k = j + 1; k <= i; k++) { var x = cps[k]; x.Start = lo; x.End = hi; cps[k] = x; }
            }
        }
        if (compose) ComposeInPlace(cps);

        var sb = new StringBuilder(input.Length);
        var m = new List<(int, int)>(input.Length);
        foreach (var c in cps)
        {
            if (c.Value >= 0x10000)
            {
                sb.Append(char.ConvertFromUtf32(c.Value));
                m.Add((c.Start, c.End));
                m.Add((c.Start, c.End));
            }
            else
            {
                sb.Append((char)c.Value);
                m.Add((c.Start, c.End));
            }
        }
        var result = sb.ToString();
        if (result == input) return input;
        map = m.ToArray();
        return result;
    }

    private static void Decompose(int cp, int start, int end, List<Cp> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(new Cp { Value = LBase + s / NCount, Start = start, End = end });
            output.Add(new Cp { Value = VBase + s % NCount / TCount, Start = start, End = end });
            if (s % TCount != 0) output.Add(new Cp { Value = TBase + s % TCount, Start = start, End = end });
            return;
        }
        if (cp >= 0xC0 && DecompIndex.TryGetValue(cp, out var idx))
        {
            for (int k = NfcData.DecompStart[idx]; k < NfcData.DecompStart[idx + 1]; k++)
            {
                int d = NfcData.DecompData[k];
                output.Add(new Cp { Value = d, Ccc = CombiningClass(d), Start = start, End = end });
            }
            return;
        }
        output.Add(new Cp { Value = cp, Ccc = CombiningClass(cp), Start = start, End = end });
    }

    private static bool TryCompose(int a, int b, out int composed)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composed = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composed = a + (b - TBase);
            return true;
        }
        return Compose.TryGetValue(((long)a << 21) | (uint)b, out composed);
    }

    private static void ComposeInPlace(List<Cp> cps)
    {
        int starter = -1, lastCcc = -1, w = 0;
        for (int i = 0; i < cps.Count; i++)
        {
            var c = cps[i];
            if (starter >= 0 && (lastCcc == -1 || (lastCcc != 0 && lastCcc < c.Ccc)) && TryCompose(cps[starter].Value, c.Value, out var comp))
            {
                var s = cps[starter];
                s.Value = comp;
                s.Start = Math.Min(s.Start, c.Start);
                s.End = Math.Max(s.End, c.End);
                cps[starter] = s;
                continue;
            }
            if (c.Ccc == 0)
            {
                starter = w;
                lastCcc = -1;
            }
            else lastCcc = c.Ccc;
            cps[w++] = c;
        }
        cps.RemoveRange(w, cps.Count - w);
    }
}
