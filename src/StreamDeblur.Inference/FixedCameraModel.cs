using Microsoft.Extensions.Logging;

namespace StreamDeblur.Inference;

/// <summary>Loads the two-frame network of fixed-camera mode beside the single-frame one.</summary>
public static class FixedCameraModel
{
    /// <summary>
    /// The two-frame model, when fixed-camera mode is enabled with its two-frame network, some stream uses it and frames
    /// are judged (blur.mode is not none). Null when it is not, or
    /// when its metadata file does not exist: every stream then deblurs single-frame, and one log line says so.
    /// A model that exists but does not load, or is not a two-frame model, is an error (<see cref="ModelException"/>).
    /// </summary>
    public static DeblurModel? Load(StreamDeblurOptions options, ILogger logger)
    {
        FixedCameraOptions fixedCamera = options.FixedCamera;
        if (!fixedCamera.Enabled || !options.Streams.Any(s => s.FixedCamera) || options.Blur.Mode == "none")
        {
            return null; // off, off on every stream, or nothing will be deblurred
        }

        if (!fixedCamera.TwoFrameNetwork)
        {
            logger.LogInformation("fixed-camera mode: verify only (two_frame_network false); blurry frames go through the single-frame model, with verified fusion");
            return null;
        }

        if (!File.Exists(fixedCamera.Metadata))
        {
            logger.LogWarning(
                "fixed-camera mode: no two-frame model at {Metadata}; every stream is deblurred single-frame (set fixed_camera.enabled to false to silence this)",
                fixedCamera.Metadata);
            return null;
        }

        DeblurModel model = DeblurModel.Load(options.Model.ForModel(fixedCamera.Metadata, fixedCamera.Int8), logger);
        if (!model.TakesReference)
        {
            model.Dispose();
            throw new ModelException($"fixed_camera.metadata {fixedCamera.Metadata} names no reference_input: it is not a two-frame model");
        }

        return model;
    }

    /// <summary>
    /// Whether a stream runs fixed-camera mode: it is on, on for the stream, frames are judged, and the mode has
    /// something to run (the loaded two-frame model, or verify only).
    /// </summary>
    public static bool UsedBy(StreamDeblurOptions options, StreamOptions stream, DeblurModel? twoFrameModel) =>
        options.FixedCamera.Enabled && stream.FixedCamera && options.Blur.Mode != "none"
        && (twoFrameModel is not null || (!options.FixedCamera.TwoFrameNetwork && options.FixedCamera.VerifiedFusion));

    /// <summary>The single-frame model must not be a two-frame one: it runs without a reference.</summary>
    public static void ThrowIfTwoFrame(DeblurModel model, string metadataPath)
    {
        if (model.TakesReference)
        {
            throw new ModelException($"model.metadata {metadataPath} is a two-frame model (reference_input '{model.Metadata.ReferenceInput}'); name it in fixed_camera.metadata instead");
        }
    }
}
