using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>Normalises decoded images to the pipeline's one pixel format: BGR, 8 bits per channel.</summary>
public static class FrameFormat
{
    /// <summary>Returns <paramref name="image"/> itself when it is BGR 8-bit, else a converted copy (and disposes the input).</summary>
    public static Mat ToBgr8(Mat image, string streamId, ILogger logger)
    {
        if (image.Type() == MatType.CV_8UC3)
        {
            return image;
        }

        using (image)
        {
            Mat eightBit = image;
            Mat? scaled = null;
            try
            {
                int depth = image.Depth();
                if (depth != MatType.CV_8U)
                {
                    // 16-bit (or float) sources: scale the full range down to 8 bits.
                    double scale = depth switch
                    {
                        MatType.CV_16U => 1.0 / 257.0,
                        MatType.CV_16S => 1.0 / 128.0,
                        MatType.CV_32F or MatType.CV_64F => 255.0,
                        _ => 1.0,
                    };
                    scaled = new Mat();
                    image.ConvertTo(scaled, MatType.CV_8U, scale);
                    eightBit = scaled;
                }

                var bgr = new Mat();
                switch (eightBit.Channels())
                {
                    case 1:
                        Cv2.CvtColor(eightBit, bgr, ColorConversionCodes.GRAY2BGR);
                        break;
                    case 4:
                        Cv2.CvtColor(eightBit, bgr, ColorConversionCodes.BGRA2BGR);
                        break;
                    case 3:
                        eightBit.CopyTo(bgr);
                        break;
                    default:
                        bgr.Dispose();
                        throw new SourceException($"stream {streamId}: frames with {eightBit.Channels()} channels are not supported");
                }

                logger.LogDebug("stream {Stream}: converted a {Type} frame to BGR 8-bit", streamId, image.Type());
                return bgr;
            }
            finally
            {
                scaled?.Dispose();
            }
        }
    }
}
