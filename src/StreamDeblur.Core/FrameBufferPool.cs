using OpenCvSharp;

namespace StreamDeblur;

/// <summary>
/// Reuses a source's frame buffers (one layout and size). A 720p frame is 1.4 MB, and fresh memory for every
/// frame costs the kernel a page fault per 4 KiB page, about as much CPU as the pixels' whole trip through the
/// pipe. A frame rented from here goes back when it is disposed (see <see cref="Frame"/>), so in steady state
/// the pool holds about as many buffers as there are frames in flight. Thread-safe: the source rents, whichever
/// stage ends a frame returns.
/// </summary>
public sealed class FrameBufferPool : IDisposable
{
    private readonly Stack<Mat> _free = new();
    private readonly int _maxRetained;
    private bool _disposed;

    public FrameBufferPool(PixelLayout layout, Size size, int maxRetained)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRetained);
        Layout = layout;
        Size = size;
        _maxRetained = maxRetained;
    }

    public PixelLayout Layout { get; }

    public Size Size { get; }

    /// <summary>Buffers waiting to be reused.</summary>
    public int Retained
    {
        get
        {
            lock (_free)
            {
                return _free.Count;
            }
        }
    }

    /// <summary>A continuous buffer of the pool's shape, reused when one is free. Its contents are stale.</summary>
    public Mat Rent()
    {
        lock (_free)
        {
            if (_free.TryPop(out Mat? buffer))
            {
                return buffer;
            }
        }

        return Frame.Allocate(Layout, Size);
    }

    /// <summary>Takes a buffer back; frees it instead when the pool is full or disposed.</summary>
    public void Return(Mat buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        lock (_free)
        {
            if (!_disposed && !buffer.IsDisposed && _free.Count < _maxRetained)
            {
                _free.Push(buffer);
                return;
            }
        }

        buffer.Dispose();
    }

    public void Dispose()
    {
        lock (_free)
        {
            _disposed = true;
            while (_free.TryPop(out Mat? buffer))
            {
                buffer.Dispose();
            }
        }
    }
}
