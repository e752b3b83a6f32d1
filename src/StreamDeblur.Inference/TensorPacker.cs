using OpenCvSharp;

namespace StreamDeblur.Inference;

/// <summary>
/// Packs BGR 8-bit images into a planar float32 NCHW tensor (pad to the model's multiple by reflection,
/// normalise per channel) and unpacks the network's output back into the images, cropping the padding.
/// Every step is one vectorised OpenCV call over a Mat header that points into the tensor buffer; the
/// buffers and headers are kept and reused while the batch shape stays the same, so steady-state
/// packing allocates nothing per frame. One instance per thread.
/// </summary>
public sealed class TensorPacker : IDisposable
{
    private readonly ModelMetadata _metadata;
    private readonly double[] _alpha = new double[3];
    private readonly double[] _beta = new double[3];
    private readonly int[] _sourceChannel = new int[3];
    private readonly Mat _padded = new();
    private readonly Mat _channel8 = new();
    private readonly Mat[] _merge = [new Mat(), new Mat(), new Mat()];
    private float[] _input = [];
    private float[] _output = [];
    private Mat[] _inputPlanes = [];
    private Mat[] _outputCrops = [];
    private (int Batch, int Height, int Width, int CropHeight, int CropWidth) _shape;

    public TensorPacker(ModelMetadata metadata)
    {
        _metadata = metadata;
        for (int c = 0; c < 3; c++)
        {
            // Tensor channel c holds image channel _sourceChannel[c] (images are BGR).
            _sourceChannel[c] = metadata.IsBgr ? c : 2 - c;
            _alpha[c] = metadata.Scale / metadata.Std[c];
            _beta[c] = -metadata.Mean[c] / metadata.Std[c];
        }
    }

    public float[] Input => _input;

    public float[] Output => _output;

    public int PaddedHeight => _shape.Height;

    public int PaddedWidth => _shape.Width;

    /// <summary>Rounds a size up to the model's pad multiple.</summary>
    public int Pad(int size) => (size + _metadata.PadMultiple - 1) / _metadata.PadMultiple * _metadata.PadMultiple;

    /// <summary>Prepares buffers for <paramref name="batch"/> images of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public void Prepare(int batch, int height, int width)
    {
        int paddedHeight = Pad(height);
        int paddedWidth = Pad(width);
        if (_shape == (batch, paddedHeight, paddedWidth, height, width))
        {
            return;
        }

        int length = batch * 3 * paddedHeight * paddedWidth;
        if (_input.Length < length)
        {
            // Pinned so that Mat headers and ORT can point straight into the arrays.
            _input = GC.AllocateUninitializedArray<float>(length, pinned: true);
            _output = GC.AllocateUninitializedArray<float>(length, pinned: true);
        }

        DisposeHeaders();
        _inputPlanes = new Mat[batch * 3];
        _outputCrops = new Mat[batch * 3];
        int planeLength = paddedHeight * paddedWidth;
        for (int i = 0; i < batch * 3; i++)
        {
            _inputPlanes[i] = PlaneHeader(_input, i * planeLength, paddedHeight, paddedWidth);
            using Mat outputPlane = PlaneHeader(_output, i * planeLength, paddedHeight, paddedWidth);
            _outputCrops[i] = new Mat(outputPlane, new Rect(0, 0, width, height));
        }

        _shape = (batch, paddedHeight, paddedWidth, height, width);
    }

    private static unsafe Mat PlaneHeader(float[] buffer, int offset, int height, int width)
    {
        fixed (float* start = buffer)
        {
            // The array is pinned for its lifetime, so the pointer stays valid after this block.
            return Mat.FromPixelData(height, width, MatType.CV_32FC1, (IntPtr)(start + offset));
        }
    }

    /// <summary>Writes <paramref name="image"/> (BGR 8UC3, the prepared size) into batch slot <paramref name="index"/>.</summary>
    public void Pack(Mat image, int index)
    {
        if (image.Height != _shape.CropHeight || image.Width != _shape.CropWidth)
        {
            throw new ArgumentException($"image is {image.Width}x{image.Height}, but the batch was prepared for {_shape.CropWidth}x{_shape.CropHeight}");
        }

        Mat source = image;
        if (_shape.Height != image.Height || _shape.Width != image.Width)
        {
            Cv2.CopyMakeBorder(image, _padded, 0, _shape.Height - image.Height, 0, _shape.Width - image.Width, BorderTypes.Reflect101);
            source = _padded;
        }

        for (int c = 0; c < 3; c++)
        {
            Cv2.ExtractChannel(source, _channel8, _sourceChannel[c]);
            _channel8.ConvertTo(_inputPlanes[(index * 3) + c], MatType.CV_32F, _alpha[c], _beta[c]);
        }
    }

    /// <summary>Writes batch slot <paramref name="index"/> of the output back into <paramref name="image"/>, cropped and clamped to 0..255.</summary>
    public void Unpack(int index, Mat image)
    {
        for (int c = 0; c < 3; c++)
        {
            // Inverse of the input transform; the saturating cast clamps to 0..255.
            _outputCrops[(index * 3) + c].ConvertTo(_merge[_sourceChannel[c]], MatType.CV_8U, 1 / _alpha[c], -_beta[c] / _alpha[c]);
        }

        Cv2.Merge(_merge, image);
    }

    private void DisposeHeaders()
    {
        foreach (Mat m in _inputPlanes)
        {
            m.Dispose();
        }

        foreach (Mat m in _outputCrops)
        {
            m.Dispose();
        }
    }

    public void Dispose()
    {
        DisposeHeaders();
        _padded.Dispose();
        _channel8.Dispose();
        foreach (Mat m in _merge)
        {
            m.Dispose();
        }
    }
}
