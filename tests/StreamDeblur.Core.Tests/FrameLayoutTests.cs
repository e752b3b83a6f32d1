using OpenCvSharp;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>I420 frames (what the ffmpeg I/O path carries) and the buffer pool behind them.</summary>
public sealed class FrameLayoutTests
{
    /// <summary>A smooth colour picture: gradients in each channel, so 4:2:0 subsampling loses little.</summary>
    private static Mat Picture(int width = 64, int height = 48)
    {
        var image = new Mat(height, width, MatType.CV_8UC3);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                image.Set(y, x, new Vec3b((byte)(40 + (3 * x)), (byte)(200 - (3 * y)), (byte)(60 + x + y)));
            }
        }

        return image;
    }

    private static double Psnr(Mat a, Mat b) => Cv2.PSNR(a, b);

    [Fact]
    public void Bgr_to_I420_and_back_keeps_the_picture_and_its_colour_order()
    {
        using Mat picture = Picture();
        using var source = new Frame("s", 0, TimeSpan.Zero, picture.Clone());
        var yuv = new Mat();
        source.CopyTo(yuv, PixelLayout.I420, source.Size);
        Assert.Equal((48 * 3 / 2, 64, MatType.CV_8UC1), (yuv.Rows, yuv.Cols, yuv.Type()));

        using var frame = new Frame("s", 0, TimeSpan.Zero, yuv, PixelLayout.I420);
        Assert.Equal((64, 48), (frame.Width, frame.Height));
        Mat bgr = frame.ToBgr();
        Assert.Equal(PixelLayout.Bgr24, frame.Layout);
        Assert.Equal(MatType.CV_8UC3, bgr.Type());
        Assert.True(Psnr(bgr, picture) > 35, $"round trip PSNR {Psnr(bgr, picture):F1} dB");

        // Swapping B and R would keep the luma but ruin the colour: the check above must catch it.
        using var swapped = new Mat();
        Cv2.CvtColor(bgr, swapped, ColorConversionCodes.BGR2RGB);
        Assert.True(Psnr(swapped, picture) < 25);
    }

    [Fact]
    public void The_analysis_view_of_an_I420_frame_is_its_luma_plane()
    {
        using Mat picture = Picture();
        var yuv = new Mat();
        Cv2.CvtColor(picture, yuv, ColorConversionCodes.BGR2YUV_I420);
        using var frame = new Frame("s", 0, TimeSpan.Zero, yuv, PixelLayout.I420);
        using Mat view = frame.AnalysisView();
        using var gray = new Mat();
        Cv2.CvtColor(picture, gray, ColorConversionCodes.BGR2GRAY);
        using var limitedRange = new Mat();
        gray.ConvertTo(limitedRange, -1, 219.0 / 255, 16); // video luma spans 16..235
        Assert.Equal((48, 64, 1), (view.Rows, view.Cols, view.Channels()));
        Assert.True(Psnr(view, limitedRange) > 40, $"luma vs limited-range gray PSNR {Psnr(view, limitedRange):F1} dB");
    }

    [Fact]
    public void CopyTo_resizes_and_leaves_the_frame_unchanged()
    {
        using var frame = new Frame("s", 0, TimeSpan.Zero, Picture());
        using var small = new Mat();
        frame.CopyTo(small, PixelLayout.I420, new Size(32, 24));
        Assert.Equal((36, 32), (small.Rows, small.Cols));
        Assert.Equal(PixelLayout.Bgr24, frame.Layout);
        Assert.Equal((64, 48), (frame.Width, frame.Height));
    }

    [Theory]
    [InlineData(48 * 3 / 2, 63)] // odd width
    [InlineData(47, 64)] // not height * 3 / 2
    public void An_image_of_the_wrong_shape_is_not_an_I420_frame(int rows, int cols)
    {
        using var image = new Mat(rows, cols, MatType.CV_8UC1);
        Assert.Throws<ArgumentException>(() => new Frame("s", 0, TimeSpan.Zero, image, PixelLayout.I420));
    }

    [Fact]
    public void A_BGR_frame_needs_three_channels()
    {
        using var image = new Mat(48, 64, MatType.CV_8UC1);
        Assert.Throws<ArgumentException>(() => new Frame("s", 0, TimeSpan.Zero, image));
    }

    [Fact]
    public void Disposing_a_pooled_frame_returns_its_buffer_once_for_reuse()
    {
        using var pool = new FrameBufferPool(PixelLayout.I420, new Size(64, 48), maxRetained: 4);
        Mat buffer = pool.Rent();
        IntPtr pixels = buffer.Data;
        var frame = new Frame("s", 0, TimeSpan.Zero, buffer, PixelLayout.I420, pool);
        frame.Dispose();
        frame.Dispose(); // a second dispose must not hand the buffer out twice
        Assert.Equal(1, pool.Retained);

        Mat again = pool.Rent();
        Assert.Equal(pixels, again.Data);
        Assert.Equal(0, pool.Retained);
        Mat fresh = pool.Rent();
        Assert.NotEqual(pixels, fresh.Data);
        again.Dispose();
        fresh.Dispose();
    }

    [Fact]
    public void Converting_a_pooled_frame_to_BGR_returns_the_I420_buffer()
    {
        using var pool = new FrameBufferPool(PixelLayout.I420, new Size(64, 48), maxRetained: 4);
        using var frame = new Frame("s", 0, TimeSpan.Zero, pool.Rent(), PixelLayout.I420, pool);
        frame.ToBgr();
        Assert.Equal(1, pool.Retained);
        frame.Dispose();
        Assert.Equal(1, pool.Retained); // the BGR image is the frame's own, not the pool's
    }

    [Fact]
    public void The_pool_keeps_at_most_its_limit_and_frees_returns_after_disposal()
    {
        var pool = new FrameBufferPool(PixelLayout.Bgr24, new Size(16, 16), maxRetained: 2);
        Mat[] buffers = [pool.Rent(), pool.Rent(), pool.Rent()];
        foreach (Mat b in buffers)
        {
            pool.Return(b);
        }

        Assert.Equal(2, pool.Retained);
        Assert.True(buffers[2].IsDisposed);
        Assert.False(buffers[0].IsDisposed);

        pool.Dispose();
        Assert.True(buffers[0].IsDisposed && buffers[1].IsDisposed);
        Mat late = Frame.Allocate(PixelLayout.Bgr24, new Size(16, 16));
        pool.Return(late); // a frame that outlived its source's pool
        Assert.True(late.IsDisposed);
        Assert.Equal(0, pool.Retained);
    }
}
