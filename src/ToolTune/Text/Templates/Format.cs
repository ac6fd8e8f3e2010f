using System.Globalization;
using System.Numerics;
using System.Text;

namespace ToolTune.Text.Templates;

/// <summary>Python printf-style (%) formatting, str.format, strftime.</summary>
internal static class Format
{
    /// <param name="escape">Markup % args: str()/repr() of non-Markup arguments is HTML-escaped.</param>
    public static string Percent(string fmt, object? args, bool escape = false)
    {
        List<object?> positional;
        PyDict? mapping = null;
        if (args is PyTuple t) positional = [.. t.Items];
        else { positional = [args]; if (args is PyDict d) mapping = d; }
        int argi = 0;
        var sb = new StringBuilder();
        int i = 0;
        object? NextArg()
        {
            if (argi >= positional.Count) throw new PyError("not enough arguments for format string");
            return positional[argi++];
        }
        bool usedMapping = false;
        while (i < fmt.Length)
        {
            char c = fmt[i];
            if (c != '%') { sb.Append(c); i++; continue; }
            i++;
            if (i >= fmt.Length) throw new PyError("incomplete format");
            object? value = null;
            bool haveValue = false;
            if (fmt[i] == '(')
            {
                int close = fmt.IndexOf(')', i);
                if (close < 0) throw new PyError("incomplete format key");
                var key = fmt[(i + 1)..close];
                if (mapping is null) throw new PyError("format requires a mapping");
                value = mapping.TryGetValue(key, out var mv) ? mv : throw new PyError($"KeyError: '{key}'");
                haveValue = true; usedMapping = true;
                i = close + 1;
            }
            string flags = "";
            while (i < fmt.Length && "-+ #0".Contains(fmt[i])) flags += fmt[i++];
            int? width = null, prec = null;
            if (i < fmt.Length && fmt[i] == '*') { width = Py.ToPadding(NextArg()!, "format width"); i++; }
            else { int ws = i; while (i < fmt.Length && char.IsAsciiDigit(fmt[i])) i++; if (i > ws) width = ParsePadding(fmt[ws..i]); }
            if (i < fmt.Length && fmt[i] == '.')
            {
                i++;
                if (i < fmt.Length && fmt[i] == '*') { prec = Py.ToPadding(NextArg()!, "format precision"); i++; }
                else { int ps = i; while (i < fmt.Length && char.IsAsciiDigit(fmt[i])) i++; prec = i > ps ? ParsePadding(fmt[ps..i]) : 0; }
            }
            while (i < fmt.Length && fmt[i] is 'h' or 'l' or 'L') i++;
            if (i >= fmt.Length) throw new PyError("incomplete format");
            char conv = fmt[i++];
            if (conv == '%') { sb.Append('%'); continue; }
            if (!haveValue) value = NextArg();
            string body = conv switch
            {
                's' => escape && !Markup.Is(value) ? Filters.Escape(Py.Str(value)) : Py.Str(value),
                'r' or 'a' => escape ? Filters.Escape(Py.Repr(value)) : Py.Repr(value),
                'd' or 'i' or 'u' => FormatInt(ToIntForFormat(value, conv), flags, 10, false),
                'x' => FormatInt(ToIntForFormat(value, conv), flags, 16, false),
                'X' => FormatInt(ToIntForFormat(value, conv), flags, 16, true),
                'o' => FormatInt(ToIntForFormat(value, conv), flags, 8, false),
                'f' or 'F' or 'e' or 'E' or 'g' or 'G' => FormatFloat(ToFloatForFormat(value, conv), conv, prec ?? 6, flags),
                'c' => value is string cs ? cs : CodePoint(value!),
                _ => throw new PyError($"unsupported format character '{conv}' (0x{(int)conv:x}) at index {i - 1}"),
            };
            if (conv is 's' or 'r' or 'a' && prec is not null && body.Length > prec) body = body[..prec.Value];
            if (width is not null && body.Length < width)
            {
                if (flags.Contains('-')) body = body.PadRight(width.Value);
                else if (flags.Contains('0') && conv is not ('s' or 'r' or 'a' or 'c'))
                {
                    int signLen = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
                    body = body[..signLen] + new string('0', width.Value - body.Length) + body[signLen..];
                }
                else body = body.PadLeft(width.Value);
            }
            sb.Append(body);
        }
        if (!usedMapping && args is not (List<object?> or PyDict) && argi < positional.Count)
            throw new PyError("not all arguments converted during string formatting");
        return sb.ToString();
    }

    /// <summary>A width/precision written in a format string (ASCII digits, as CPython reads them).</summary>
    private static int ParsePadding(string digits) =>
        digits.Length == 0 ? throw new PyError("Format specifier missing precision")
        : digits.Length > 9 ? throw new LimitError($"width or precision {digits} exceeds the limit of {Py.MaxPadding}")
        : Py.ToPadding((long)int.Parse(digits, CultureInfo.InvariantCulture), "width or precision");

    private static string CodePoint(object v)
    {
        var cp = Py.ToLongSaturating(v);
        if (cp is < 0 or > 0x10FFFF) throw new PyError("%c arg not in range(0x110000)");
        return cp is >= 0xD800 and <= 0xDFFF ? ((char)cp).ToString() : char.ConvertFromUtf32((int)cp);
    }

    private static BigInteger ToIntForFormat(object? v, char conv) => v switch
    {
        long or bool or BigInteger => Py.ToBig(v),
        double d when double.IsNaN(d) => throw new PyError("cannot convert float NaN to integer"),
        double d when double.IsInfinity(d) => throw new PyError("cannot convert float infinity to integer"),
        double d => new BigInteger(Math.Truncate(d)),
        _ => throw new PyError($"%{conv} format: a real number is required, not {Py.TypeName(v)}"),
    };

    private static double ToFloatForFormat(object? v, char conv) => Py.IsNumber(v) ? Py.ToDouble(v) :
        throw new PyError($"must be real number, not {Py.TypeName(v)}");

    private static string FormatInt(BigInteger v, string flags, int radix, bool upper)
    {
        string digits = radix switch
        {
            10 => BigInteger.Abs(v).ToString(CultureInfo.InvariantCulture),
            16 => ToRadix(BigInteger.Abs(v), 16),
            _ => ToRadix(BigInteger.Abs(v), 8),
        };
        if (upper) digits = digits.ToUpperInvariant();
        if (flags.Contains('#') && radix != 10) digits = (radix == 16 ? (upper ? "0X" : "0x") : "0o") + digits;
        string sign = v.Sign < 0 ? "-" : flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "";
        return sign + digits;
    }

    private static string ToRadix(BigInteger v, int radix)
    {
        if (v.IsZero) return "0";
        var sb = new StringBuilder();
        while (!v.IsZero) { sb.Insert(0, "0123456789abcdef"[(int)(v % radix)]); v /= radix; }
        return sb.ToString();
    }

    public static string FormatFloat(double d, char conv, int prec, string flags)
    {
        string sign = d < 0 || (d == 0 && double.IsNegative(d)) ? "-" : flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "";
        double a = Math.Abs(d);
        string body;
        if (double.IsNaN(d)) { body = "nan"; sign = flags.Contains('+') ? "+" : ""; }
        else if (double.IsInfinity(a)) body = "inf";
        else
        {
            switch (char.ToLowerInvariant(conv))
            {
                case 'f': body = a.ToString("F" + prec, CultureInfo.InvariantCulture); break;
                case 'e': body = ExpFormat(a, prec); break;
                default:
                    {
                        int p = prec == 0 ? 1 : prec;
                        if (a == 0) { body = flags.Contains('#') ? "0." + new string('0', p - 1) : "0"; break; }
                        var e = ExpFormat(a, p - 1);
                        int exp = int.Parse(e[(e.IndexOf('e') + 1)..], CultureInfo.InvariantCulture);
                        if (exp < -4 || exp >= p) body = e;
                        else body = a.ToString("F" + Math.Max(0, p - 1 - exp), CultureInfo.InvariantCulture);
                        if (!flags.Contains('#'))
                        {
                            int ePos = body.IndexOf('e');
                            string mant = ePos >= 0 ? body[..ePos] : body, rest = ePos >= 0 ? body[ePos..] : "";
                            if (mant.Contains('.')) mant = mant.TrimEnd('0').TrimEnd('.');
                            body = mant + rest;
                        }
                        break;
                    }
            }
        }
        if (char.IsUpper(conv)) body = body.ToUpperInvariant();
        return sign + body;
    }

    private static string ExpFormat(double a, int prec)
    {
        var s = a.ToString((prec == 0 ? "0" : "0." + new string('0', prec)) + "e+00", CultureInfo.InvariantCulture);
        return s;
    }

    // ---------- str.format ----------
    public static string StrFormat(string fmt, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c == '{')
            {
                if (i + 1 < fmt.Length && fmt[i + 1] == '{') { sb.Append('{'); i++; continue; }
                int close = fmt.IndexOf('}', i);
                if (close < 0) throw new PyError("Single '{' encountered in format string");
                var field = fmt[(i + 1)..close];
                i = close;
                string spec = "";
                char? conversion = null;
                int colon = field.IndexOf(':');
                if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
                int bang = field.IndexOf('!');
                if (bang >= 0) { conversion = field[bang + 1]; field = field[..bang]; }
                // field name with .attr / [key]
                int cut = field.IndexOfAny(['.', '[']);
                string head = cut >= 0 ? field[..cut] : field;
                object? value;
                if (head.Length == 0) value = auto < args.Count ? args[auto++] : throw new PyError($"Replacement index {auto} out of range for positional args tuple");
                else if (int.TryParse(head, NumberStyles.None, CultureInfo.InvariantCulture, out var idx))
                    value = idx < args.Count ? args[idx] : throw new PyError($"Replacement index {idx} out of range for positional args tuple");
                else
                {
                    var kv = kwargs.FirstOrDefault(k => k.Key == head);
                    if (kv.Key is null) throw new PyError($"KeyError: '{head}'");
                    value = kv.Value;
                }
                string rest = cut >= 0 ? field[cut..] : "";
                while (rest.Length > 0)
                {
                    if (rest[0] == '.')
                    {
                        int n = rest.IndexOfAny(['.', '['], 1);
                        var name = n < 0 ? rest[1..] : rest[1..n];
                        value = Access.GetAttr(value, name);
                        rest = n < 0 ? "" : rest[n..];
                    }
                    else
                    {
                        int e = rest.IndexOf(']');
                        var key = rest[1..e];
                        value = Access.GetItem(value, int.TryParse(key, out var ki) ? Py.Int(ki) : key);
                        rest = rest[(e + 1)..];
                    }
                }
                if (value is Undefined { Unsafe: true } uu) throw new PyError(uu.Hint!);
                if (conversion == 'r') value = Py.Repr(value);
                else if (conversion == 's') value = Py.Str(value);
                sb.Append(ApplySpec(value, spec));
            }
            else if (c == '}')
            {
                if (i + 1 < fmt.Length && fmt[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw new PyError("Single '}' encountered in format string");
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static string ApplySpec(object? value, string spec)
    {
        if (spec.Length == 0) return Py.Str(value);
        int i = 0;
        char fill = ' ';
        char? align = null;
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=') { fill = spec[0]; align = spec[1]; i = 2; }
        else if (spec[0] is '<' or '>' or '^' or '=') { align = spec[0]; i = 1; }
        string flags = "";
        while (i < spec.Length && spec[i] is '+' or '-' or ' ' or '#') flags += spec[i++];
        if (i < spec.Length && spec[i] == '0') { if (align is null) { fill = '0'; align = '='; } i++; }
        int ws = i; while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
        int width = i > ws ? ParsePadding(spec[ws..i]) : 0;
        bool comma = false;
        if (i < spec.Length && spec[i] is ',' or '_') { comma = true; i++; }
        int? prec = null;
        if (i < spec.Length && spec[i] == '.') { i++; int ps = i; while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++; prec = ParsePadding(spec[ps..i]); }
        char type = i < spec.Length ? spec[i] : '\0';
        string body;
        bool numeric = Py.IsNumber(value);
        switch (type)
        {
            case 'd': body = FormatInt(Py.ToBig(value!), flags, 10, false); break;
            case 'x': body = FormatInt(Py.ToBig(value!), flags, 16, false); break;
            case 'X': body = FormatInt(Py.ToBig(value!), flags, 16, true); break;
            case 'o': body = FormatInt(Py.ToBig(value!), flags, 8, false); break;
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G': body = FormatFloat(Py.ToDouble(value), type, prec ?? 6, flags); break;
            case '%': body = FormatFloat(Py.ToDouble(value) * 100, 'f', prec ?? 6, flags) + "%"; break;
            case 's' or '\0':
                if (numeric && type == '\0' && prec is not null) { body = FormatFloat(Py.ToDouble(value), 'g', prec.Value, flags); break; }
                body = Py.Str(value);
                if (numeric && flags.Contains('+') && !body.StartsWith('-')) body = "+" + body;
                if (!numeric && prec is not null && body.Length > prec) body = body[..prec.Value];
                break;
            default: throw new PyError($"Unknown format code '{type}' for object of type '{Py.TypeName(value)}'");
        }
        if (comma && numeric)
        {
            int dot = body.IndexOf('.'); string ip = dot >= 0 ? body[..dot] : body, fp = dot >= 0 ? body[dot..] : "";
            string sign = ip.StartsWith('-') || ip.StartsWith('+') ? ip[..1] : ""; ip = ip[sign.Length..];
            var sb2 = new StringBuilder();
            for (int k = 0; k < ip.Length; k++) { if (k > 0 && (ip.Length - k) % 3 == 0) sb2.Append(','); sb2.Append(ip[k]); }
            body = sign + sb2 + fp;
        }
        if (body.Length >= width) return body;
        align ??= numeric ? '>' : '<';
        int pad = width - body.Length;
        return align switch
        {
            '<' => body + new string(fill, pad),
            '>' => new string(fill, pad) + body,
            '^' => new string(fill, pad / 2) + body + new string(fill, pad - pad / 2),
            _ => body.Length > 0 && body[0] is '-' or '+' or ' ' ? body[0] + new string(fill, pad) + body[1..] : new string(fill, pad) + body,
        };
    }

    // ---------- strftime (C locale) ----------
    private static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Strftime(DateTime t, string fmt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c != '%' || i + 1 >= fmt.Length) { sb.Append(c); continue; }
            char f = fmt[++i];
            bool noPad = false;
            if (f == '-' && i + 1 < fmt.Length) { noPad = true; f = fmt[++i]; }
            string two(int v) => noPad ? v.ToString(CultureInfo.InvariantCulture) : v.ToString("00", CultureInfo.InvariantCulture);
            switch (f)
            {
                case 'd': sb.Append(two(t.Day)); break;
                case 'e': sb.Append(t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2)); break;
                case 'm': sb.Append(two(t.Month)); break;
                case 'Y': sb.Append(t.Year.ToString(CultureInfo.InvariantCulture)); break;
                case 'y': sb.Append(two(t.Year % 100)); break;
                case 'H': sb.Append(two(t.Hour)); break;
                case 'I': sb.Append(two(t.Hour % 12 == 0 ? 12 : t.Hour % 12)); break;
                case 'M': sb.Append(two(t.Minute)); break;
                case 'S': sb.Append(two(t.Second)); break;
                case 'f': sb.Append((t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture)); break;
                case 'p': sb.Append(t.Hour < 12 ? "AM" : "PM"); break;
                case 'A': sb.Append(Days[(int)t.DayOfWeek]); break;
                case 'a': sb.Append(Days[(int)t.DayOfWeek][..3]); break;
                case 'B': sb.Append(Months[t.Month - 1]); break;
                case 'b' or 'h': sb.Append(Months[t.Month - 1][..3]); break;
                case 'j': sb.Append(noPad ? t.DayOfYear.ToString(CultureInfo.InvariantCulture) : t.DayOfYear.ToString("000", CultureInfo.InvariantCulture)); break;
                case 'w': sb.Append((int)t.DayOfWeek); break;
                case 'U': sb.Append(two((t.DayOfYear + 6 - (int)t.DayOfWeek) / 7)); break;
                case 'W': sb.Append(two((t.DayOfYear + 6 - ((int)t.DayOfWeek + 6) % 7) / 7)); break;
                case 'u': sb.Append(t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek); break;
                case 'F': sb.Append(t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)); break;
                case 'D': sb.Append(t.ToString("MM/dd/yy", CultureInfo.InvariantCulture)); break;
                case 'T': sb.Append(t.ToString("HH:mm:ss", CultureInfo.InvariantCulture)); break;
                case 'R': sb.Append(t.ToString("HH:mm", CultureInfo.InvariantCulture)); break;
                case 'c': sb.Append(Days[(int)t.DayOfWeek][..3]).Append(' ').Append(Months[t.Month - 1][..3]).Append(' ').Append(t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2)).Append(' ').Append(t.ToString("HH:mm:ss yyyy", CultureInfo.InvariantCulture)); break;
                case 'x': sb.Append(t.ToString("MM/dd/yy", CultureInfo.InvariantCulture)); break;
                case 'X': sb.Append(t.ToString("HH:mm:ss", CultureInfo.InvariantCulture)); break;
                case 'Z': break;
                case 'z': break;
                case '%': sb.Append('%'); break;
                default: sb.Append('%').Append(f); break;
            }
        }
        return sb.ToString();
    }
}
