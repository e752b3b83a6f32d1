using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Inference;

/// <summary>
/// Runs each batch through the network and sends every frame on to its own stream's reorder queue.
/// A batch that fails is passed through untouched (route SkippedError), so no frame is lost.
/// </summary>
public sealed class DeblurStage : IDisposable
{
    private readonly DeblurModel _model;
    private readonly TensorPacker _packer;
    private readonly TiledDeblurrer _tiler;
    private readonly ModelOptions _options;
    private readonly ILogger _logger;

    public DeblurStage(DeblurModel model, ModelOptions options, ILogger logger)
    {
        _model = model;
        _options = options;
        _logger = logger;
        _packer = new TensorPacker(model.Metadata);
        _tiler = new TiledDeblurrer(model, options);
    }

    /// <summary>Deblurs each batch and hands every frame to <paramref name="deliver"/>, which takes ownership.</summary>
    public async Task RunAsync(ChannelReader<FrameBatch> input, Func<Frame, CancellationToken, ValueTask> deliver, CancellationToken cancellationToken)
    {
        while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (input.TryRead(out FrameBatch? batch))
            {
                Process(batch);
                foreach (Frame frame in batch.Frames)
                {
                    await deliver(frame, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Deblurs one frame in place, as a batch of one.</summary>
    public void Process(Frame frame)
    {
        var batch = new FrameBatch(frame.Width, frame.Height);
        batch.Frames.Add(frame);
        Process(batch);
    }

    /// <summary>Deblurs the batch's frames in place.</summary>
    public void Process(FrameBatch batch)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            if ((long)batch.Width * batch.Height > _options.TileAbovePixels)
            {
                foreach (Frame frame in batch.Frames)
                {
                    _tiler.Deblur(frame.ToBgr());
                }
            }
            else
            {
                _packer.Prepare(batch.Frames.Count, batch.Height, batch.Width);
                for (int i = 0; i < batch.Frames.Count; i++)
                {
                    _packer.Pack(batch.Frames[i].ToBgr(), i);
                }

                _model.Run(_packer.Input, _packer.Output, batch.Frames.Count, _packer.PaddedHeight, _packer.PaddedWidth);
                for (int i = 0; i < batch.Frames.Count; i++)
                {
                    _packer.Unpack(i, batch.Frames[i].Image);
                }
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            PipelineMetrics.StageDuration.WithLabels("deblur").Observe(seconds);
            foreach (Frame frame in batch.Frames)
            {
                frame.Route = FrameRoute.Deblurred;
                frame.DeblurSeconds = seconds / batch.Frames.Count;
                frame.BatchSize = batch.Frames.Count;
                PipelineMetrics.FramesDeblurred.WithLabels(frame.StreamId).Inc();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError("deblur failed on a batch of {Count} {Width}x{Height} frames; passing them through: {Error}",
                batch.Frames.Count, batch.Width, batch.Height, ex.Message);
            foreach (Frame frame in batch.Frames)
            {
                frame.Route = FrameRoute.SkippedError;
                PipelineMetrics.FramesSkipped.WithLabels(frame.StreamId, "error").Inc();
                PipelineMetrics.Errors.WithLabels(frame.StreamId, "deblur").Inc();
            }
        }
    }

    public void Dispose()
    {
        _packer.Dispose();
        _tiler.Dispose();
    }
}
