using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Inference;

/// <summary>
/// Runs each batch through the network and sends every frame on to its own stream's reorder queue.
/// Batches whose frames carry an aligned reference go to the two-frame (fixed-camera) network, the others to
/// the single-frame one. A batch that fails is passed through untouched (route SkippedError), so no frame is lost.
/// </summary>
public sealed class DeblurStage : IDisposable
{
    private readonly DeblurModel _model;
    private readonly TensorPacker _packer;
    private readonly TiledDeblurrer _tiler;
    private readonly DeblurModel? _fixedModel;
    private readonly TensorPacker? _fixedPacker;
    private readonly TiledDeblurrer? _fixedTiler;
    private readonly ISharpnessMeter? _sharpness;
    private readonly ModelOptions _options;
    private readonly ILogger _logger;

    /// <param name="model">The single-frame network.</param>
    /// <param name="options">Tiling settings.</param>
    /// <param name="logger">Where failed batches are reported.</param>
    /// <param name="fixedCameraModel">The two-frame network, for frames that carry a reference (fixed-camera mode).</param>
    /// <param name="sharpness">Scores fixed-camera streams' frames after deblurring (for their report and the gain histogram).</param>
    public DeblurStage(DeblurModel model, ModelOptions options, ILogger logger, DeblurModel? fixedCameraModel = null, ISharpnessMeter? sharpness = null)
    {
        _model = model;
        _options = options;
        _logger = logger;
        _packer = new TensorPacker(model.Metadata);
        _tiler = new TiledDeblurrer(model, options);
        if (fixedCameraModel is not null)
        {
            _fixedModel = fixedCameraModel;
            _fixedPacker = new TensorPacker(fixedCameraModel.Metadata);
            _fixedTiler = new TiledDeblurrer(fixedCameraModel, options);
        }

        _sharpness = sharpness;
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

    /// <summary>Deblurs one frame in place, as a batch of one (with its reference, if it carries one).</summary>
    public void Process(Frame frame)
    {
        var batch = new FrameBatch(frame.Width, frame.Height, frame.Reference is not null);
        batch.Frames.Add(frame);
        Process(batch);
    }

    /// <summary>Deblurs the batch's frames in place.</summary>
    public void Process(FrameBatch batch)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            (DeblurModel model, TensorPacker packer, TiledDeblurrer tiler) = batch.WithReference
                ? (_fixedModel ?? throw new InvalidOperationException("frames with a reference reached a deblur stage that has no two-frame model"), _fixedPacker!, _fixedTiler!)
                : (_model, _packer, _tiler);
            if ((long)batch.Width * batch.Height > _options.TileAbovePixels)
            {
                foreach (Frame frame in batch.Frames)
                {
                    tiler.Deblur(frame.ToBgr(), frame.Reference);
                }
            }
            else
            {
                packer.Prepare(batch.Frames.Count, batch.Height, batch.Width, batch.WithReference);
                for (int i = 0; i < batch.Frames.Count; i++)
                {
                    packer.Pack(batch.Frames[i].ToBgr(), i);
                    if (batch.WithReference)
                    {
                        packer.PackReference(batch.Frames[i].Reference!, i);
                    }
                }

                model.Run(packer.Input, packer.Reference, packer.Output, batch.Frames.Count, packer.PaddedHeight, packer.PaddedWidth);
                for (int i = 0; i < batch.Frames.Count; i++)
                {
                    packer.Unpack(i, batch.Frames[i].Image);
                }
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            PipelineMetrics.StageDuration.WithLabels("deblur").Observe(seconds);
            foreach (Frame frame in batch.Frames)
            {
                frame.Route = FrameRoute.Deblurred;
                frame.DeblurSeconds = seconds / batch.Frames.Count;
                frame.BatchSize = batch.Frames.Count;
                frame.ReferenceUsed = batch.WithReference || frame.Verified is not null; // the network's input, or verified fusion
                frame.Verified?.BlendInto(frame.Image); // verified fusion: the proven part from the frame itself
                frame.ReleaseReference();
                PipelineMetrics.FramesDeblurred.WithLabels(frame.StreamId).Inc();
                if (frame.FixedCamera is { } info)
                {
                    RecordFixedCamera(frame, info);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError("deblur failed on a batch of {Count} {Width}x{Height} frames; passing them through: {Error}",
                batch.Frames.Count, batch.Width, batch.Height, ex.Message);
            foreach (Frame frame in batch.Frames)
            {
                frame.ReleaseReference();
                frame.Route = FrameRoute.SkippedError;
                PipelineMetrics.FramesSkipped.WithLabels(frame.StreamId, "error").Inc();
                PipelineMetrics.Errors.WithLabels(frame.StreamId, "deblur").Inc();
            }
        }
    }

    /// <summary>Counts what the keeper had for a deblurred frame of a fixed-camera stream, and how much sharper it came out.</summary>
    private void RecordFixedCamera(Frame frame, FixedCameraInfo info)
    {
        PipelineMetrics.FixedCameraReferences.WithLabels(frame.StreamId, FixedCameraInfo.Name(info.Outcome)).Inc();
        if (_sharpness is null)
        {
            return;
        }

        frame.SharpnessAfter = _sharpness.Sharpness(frame.Image);
        if (frame.Blur.Sharpness > 0)
        {
            PipelineMetrics.SharpnessGain.WithLabels(frame.StreamId, frame.ReferenceUsed ? "used" : "none").Observe(frame.SharpnessAfter / frame.Blur.Sharpness);
        }
    }

    public void Dispose()
    {
        _packer.Dispose();
        _tiler.Dispose();
        _fixedPacker?.Dispose();
        _fixedTiler?.Dispose();
    }
}
