namespace ToolTune.Text.Tokenization;

/// <summary>GPT-2 byte-to-unicode table (tokenizers <c>bytes_char()</c>): printable bytes map to themselves,
/// the other 68 to U+0100 + n in byte order.</summary>
internal static class ByteLevelMap
{
    public static readonly char[] ByteToChar = BuildByteToChar();
    /// <summary>Indexed by char (0..0x143); -1 when the char is not in the table.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var rev = new short[0x144];
        Array.Fill(rev, (short)-1);
        for (int b = 0; b < 256; b++) rev[ByteToChar[b]] = (short)b;
        return rev;
    }

    /// <summary>Appends the bytes a byte-level token string stands for; a token with any char outside the
    /// table contributes its raw UTF-8 (tokenizers ByteLevel decoder).</summary>
    public static void AppendTokenBytes(string token, List<byte> output)
    {
        foreach (var c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0)
            {
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (var c in token) output.Add((byte)CharToByte[c]);
    }
}
