using System.Threading.Channels;

namespace StreamDeblur.Inference;

/// <summary>
/// Frames of one shape, deblurred together: all with an aligned reference (for the two-frame network) or all
/// without. The batch owns its frames until it hands them on.
/// </summary>
public sealed class FrameBatch(int width, int height, bool withReference = false)
{
    public int Width { get; } = width;

    public int Height { get; } = height;

    /// <summary>Every frame carries an aligned reference, and the batch goes to the two-frame network.</summary>
    public bool WithReference { get; } = withReference;

    public List<Frame> Frames { get; } = [];

    /// <summary><see cref="Stopwatch"/> timestamp of the first frame's arrival: the batch's deadline starts there.</summary>
    public long OpenedAt { get; set; }
}

/// <summary>
/// The cross-stream dynamic batcher. Blurry frames from every stream queue here and leave in batches of
/// one shape, pushed when a batch is full or when <see cref="BatchingOptions.MaxQueueDelayMs"/> has passed
/// since its first frame arrived (as nvstreammux's batched-push-timeout and Triton's max queue delay).
/// Frames with a reference (fixed-camera mode) and frames without are batched apart.
/// </summary>
public sealed class FrameBatcher(BatchingOptions options, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<(int Width, int Height, bool WithReference), FrameBatch> _open = [];

    public async Task RunAsync(ChannelReader<Frame> input, ChannelWriter<FrameBatch> output, CancellationToken cancellationToken)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                TimeSpan? wait = TimeUntilNextDeadline();
                bool more;
                if (wait is null)
                {
                    more = await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    more = await WaitWithTimeoutAsync(input, wait.Value, cancellationToken).ConfigureAwait(false) ?? true;
                }

                while (input.TryRead(out Frame? frame))
                {
                    FrameBatch batch = OpenBatchFor(frame);
                    batch.Frames.Add(frame);
                    if (batch.Frames.Count >= options.MaxBatchSize)
                    {
                        _open.Remove(Key(batch));
                        await PushAsync(batch, output, cancellationToken).ConfigureAwait(false);
                    }
                }

                await PushExpiredAsync(output, cancellationToken).ConfigureAwait(false);
                if (!more)
                {
                    break;
                }
            }

            // End of input: push what is left, in arrival order.
            foreach (FrameBatch batch in _open.Values.OrderBy(b => b.OpenedAt).ToList())
            {
                await PushAsync(batch, output, cancellationToken).ConfigureAwait(false);
            }

            _open.Clear();
        }
        catch (Exception ex)
        {
            error = ex;
            foreach (FrameBatch batch in _open.Values)
            {
                batch.Frames.ForEach(f => f.Dispose());
            }

            _open.Clear();
            PipelineChannels.DisposeRemaining(input);
        }
        finally
        {
            output.TryComplete(error is OperationCanceledException ? null : error);
        }
    }

    private FrameBatch OpenBatchFor(Frame frame)
    {
        var key = (frame.Width, frame.Height, frame.Reference is not null);
        if (!_open.TryGetValue(key, out FrameBatch? batch))
        {
            batch = new FrameBatch(frame.Width, frame.Height, key.Item3) { OpenedAt = _clock.GetTimestamp() };
            _open.Add(key, batch);
        }

        return batch;
    }

    private TimeSpan? TimeUntilNextDeadline()
    {
        if (_open.Count == 0)
        {
            return null;
        }

        long oldest = _open.Values.Min(b => b.OpenedAt);
        TimeSpan remaining = TimeSpan.FromMilliseconds(options.MaxQueueDelayMs) - _clock.GetElapsedTime(oldest);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private async Task PushExpiredAsync(ChannelWriter<FrameBatch> output, CancellationToken cancellationToken)
    {
        if (_open.Count == 0)
        {
            return;
        }

        TimeSpan delay = TimeSpan.FromMilliseconds(options.MaxQueueDelayMs);
        foreach (FrameBatch batch in _open.Values.Where(b => _clock.GetElapsedTime(b.OpenedAt) >= delay).ToList())
        {
            _open.Remove(Key(batch));
            await PushAsync(batch, output, cancellationToken).ConfigureAwait(false);
        }
    }

    private static (int Width, int Height, bool WithReference) Key(FrameBatch batch) => (batch.Width, batch.Height, batch.WithReference);

    private static async Task PushAsync(FrameBatch batch, ChannelWriter<FrameBatch> output, CancellationToken cancellationToken)
    {
        PipelineMetrics.BatchSize.Observe(batch.Frames.Count);
        try
        {
            await output.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            batch.Frames.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>Waits for input or the timeout: true/false as WaitToReadAsync, null when the timeout came first.</summary>
    private async Task<bool?> WaitWithTimeoutAsync(ChannelReader<Frame> input, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return input.Completion.IsCompleted && input.Count == 0 ? false : null;
        }

        using var deadline = new CancellationTokenSource(timeout, _clock);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            return await input.WaitToReadAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }
}
