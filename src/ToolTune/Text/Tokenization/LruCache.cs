namespace ToolTune.Text.Tokenization;

/// <summary>Bounded, thread-safe least-recently-used map from a word (looked up by span) to its encoding.</summary>
internal sealed class LruCache<TValue> where TValue : class
{
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _keys;
    private readonly TValue[] _values;
    private readonly int[] _prev, _next;
    private int _head = -1, _tail = -1, _count;
    private readonly Lock _lock = new();

    public LruCache(int capacity)
    {
        Capacity = Math.Max(1, capacity);
        _keys = new string[Capacity];
        _values = new TValue[Capacity];
        _prev = new int[Capacity];
        _next = new int[Capacity];
        _lookup = _index.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Capacity { get; }

    public int Count
    {
        get { lock (_lock) return _count; }
    }

    public bool TryGet(ReadOnlySpan<char> key, out TValue value)
    {
        lock (_lock)
        {
            if (_lookup.TryGetValue(key, out var slot))
            {
                MoveToFront(slot);
                value = _values[slot];
                return true;
            }
        }
        value = null!;
        return false;
    }

    public void Add(ReadOnlySpan<char> key, TValue value)
    {
        lock (_lock)
        {
            if (_lookup.TryGetValue(key, out var existing))
            {
                _values[existing] = value;
                MoveToFront(existing);
                return;
            }
            int slot;
            if (_count < Capacity) slot = _count++;
            else
            {
                slot = _tail;
                Unlink(slot);
                _index.Remove(_keys[slot]);
            }
            var k = key.ToString();
            _keys[slot] = k;
            _values[slot] = value;
            _index[k] = slot;
            LinkFront(slot);
        }
    }

    private void MoveToFront(int slot)
    {
        if (_head == slot) return;
        Unlink(slot);
        LinkFront(slot);
    }

    private void Unlink(int slot)
    {
        int p = _prev[slot], n = _next[slot];
        if (p >= 0) _next[p] = n; else _head = n;
        if (n >= 0) _prev[n] = p; else _tail = p;
    }

    private void LinkFront(int slot)
    {
        _prev[slot] = -1;
        _next[slot] = _head;
        if (_head >= 0) _prev[_head] = slot;
        _head = slot;
        if (_tail < 0) _tail = slot;
    }
}
