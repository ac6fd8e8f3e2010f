using System.Net.Sockets;
using System.Text;

namespace ToolTune.Cli.Serving;

/// <summary>What one hostile request got back.</summary>
/// <param name="Kind">Which attack.</param>
/// <param name="Status">The HTTP status, or 0 when the server closed the connection without an answer.</param>
public sealed record HostileOutcome(string Kind, int Status);

/// <summary>
/// Requests a server must survive (<c>tooltune bench serve</c>, ServeHostileTests): random bytes, bodies past the limit
/// (declared and chunked), JSON nested far past any sane depth, bodies that trickle and stop, broken HTTP, non-JSON and
/// wrong-typed JSON. Raw sockets on loopback, each bounded by a timeout; seeded, so a run can be repeated.
/// </summary>
public static class HostileRequests
{
    public static readonly string[] Kinds =
        ["random-bytes", "huge-declared-body", "huge-chunked-body", "deep-json", "slow-body", "broken-http", "not-json", "wrong-types", "invalid-utf8", "bad-route"];

    /// <summary>Sends request number <paramref name="index"/> (kind = index mod the kinds) and reads the status line.</summary>
    public static async Task<HostileOutcome> SendAsync(Uri server, int index, long maxBodyBytes, int seed, TimeSpan timeout)
    {
        var kind = Kinds[index % Kinds.Length];
        var rng = new Random(seed * 7919 + index);
        using var cts = new CancellationTokenSource(timeout);
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(server.Host, server.Port, cts.Token);
            var stream = tcp.GetStream();
            async Task Send(byte[] bytes) => await stream.WriteAsync(bytes, cts.Token);
            byte[] Head(string method, string path, string headers) =>
                Encoding.ASCII.GetBytes($"{method} {path} HTTP/1.1\r\nHost: {server.Host}:{server.Port}\r\n{headers}\r\n");
            byte[] Json(string body) =>
                [.. Head("POST", "/v1/chat/completions", $"Content-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n"), .. Encoding.UTF8.GetBytes(body)];
            switch (kind)
            {
                case "random-bytes":
                {
                    var junk = new byte[rng.Next(1, 8192)];
                    rng.NextBytes(junk);
                    await Send(junk);
                    break;
                }
                case "huge-declared-body":
                    await Send(Head("POST", "/v1/chat/completions", $"Content-Type: application/json\r\nContent-Length: {maxBodyBytes * 8}\r\nConnection: close\r\n"));
                    await Send(Encoding.ASCII.GetBytes("{\"messages\": [" + new string(' ', 64 * 1024)));
                    break;
                case "huge-chunked-body":
                {
                    await Send(Head("POST", "/v1/chat/completions", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"));
                    var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
                    var header = Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n");
                    for (long sent = 0; sent <= maxBodyBytes + chunk.Length; sent += chunk.Length)
                    {
                        if (!tcp.Connected) break;
                        await Send([.. header, .. chunk, .. "\r\n"u8.ToArray()]);
                    }
                    await Send("0\r\n\r\n"u8.ToArray());
                    break;
                }
                case "deep-json":
                {
                    var depth = Math.Min(100_000, (int)Math.Min(int.MaxValue, maxBodyBytes / 2 - 16));
                    await Send(Json("{\"messages\": " + new string('[', depth) + new string(']', depth) + "}"));
                    break;
                }
                case "slow-body":
                    // Declares a body, sends a few bytes, then stops: the server must not hold a generation slot or
                    // memory for it (Kestrel's minimum data rate drops it; here the client gives up first).
                    await Send(Head("POST", "/v1/chat/completions", "Content-Type: application/json\r\nContent-Length: 4096\r\nConnection: close\r\n"));
                    await Send("{\"messages\": ["u8.ToArray());
                    await Task.Delay(rng.Next(50, 250), cts.Token);
                    tcp.Client.Shutdown(SocketShutdown.Send);
                    break;
                case "broken-http":
                    await Send(Encoding.ASCII.GetBytes(rng.Next(3) switch
                    {
                        0 => "POST /v1/chat/completions HTTP/9.9\r\n\r\n",
                        1 => "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                        _ => "POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('a', 64 * 1024) + "\r\n\r\n",
                    }));
                    break;
                case "not-json":
                    await Send(Json(rng.Next(3) switch { 0 => "{\"messages\": [", 1 => "42", _ => "null" }));
                    break;
                case "wrong-types":
                    await Send(Json(rng.Next(4) switch
                    {
                        0 => "{\"messages\": [{\"role\": 7, \"content\": \"hi\"}]}",
                        1 => "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"ten\"}",
                        2 => "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tools\": [{\"type\": \"function\"}], \"tool_choice\": \"auto\"}",
                        _ => "{\"messages\": [], \"temperature\": 1e999}",
                    }));
                    break;
                case "invalid-utf8":
                {
                    byte[] body = [.. "{\"messages\": \""u8.ToArray(), 0xff, 0xfe, 0xfd, .. "\"}"u8.ToArray()];
                    await Send([.. Head("POST", "/v1/chat/completions", $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n"), .. body]);
                    break;
                }
                default:
                    await Send(Head(rng.Next(2) == 0 ? "DELETE" : "GET", rng.Next(2) == 0 ? "/v1/completions" : "/../../etc/passwd", "Connection: close\r\n"));
                    break;
            }
            return new HostileOutcome(kind, await ReadStatus(stream, cts.Token));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return new HostileOutcome(kind, 0);
        }
    }

    /// <summary>The status code of the response's first line; 0 when the connection closes first.</summary>
    private static async Task<int> ReadStatus(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[256];
        var n = 0;
        while (n < buffer.Length)
        {
            var r = await stream.ReadAsync(buffer.AsMemory(n), ct);
            if (r == 0) break;
            n += r;
            if (Array.IndexOf(buffer, (byte)'\n', 0, n) >= 0) break;
        }
        var line = Encoding.ASCII.GetString(buffer, 0, n);
        var parts = line.Split(' ');
        return parts.Length >= 2 && line.StartsWith("HTTP/", StringComparison.Ordinal) && int.TryParse(parts[1], out var status) ? status : 0;
    }
}
