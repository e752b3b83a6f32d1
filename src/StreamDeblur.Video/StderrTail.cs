namespace StreamDeblur.Video;

/// <summary>The last few lines a child process wrote to stderr, for error messages. Thread-safe.</summary>
internal sealed class StderrTail(int capacity)
{
    private readonly Queue<string> _lines = new();

    public void Add(string line)
    {
        lock (_lines)
        {
            _lines.Enqueue(line);
            while (_lines.Count > capacity)
            {
                _lines.Dequeue();
            }
        }
    }

    /// <summary>The newest line, or "no error message".</summary>
    public string Last()
    {
        lock (_lines)
        {
            return _lines.Count == 0 ? "no error message" : _lines.Last();
        }
    }

    /// <summary>Every kept line, oldest first, joined with " | ".</summary>
    public string Joined()
    {
        lock (_lines)
        {
            return string.Join(" | ", _lines);
        }
    }
}
