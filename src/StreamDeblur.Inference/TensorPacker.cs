using OpenCvSharp;

namespace StreamDeblur.Inference;

/// <summary>
/// Packs BGR 8-bit images into a planar float32 NCHW tensor (pad to the model's multiple by reflection,
/// normalise per channel) and unpacks the network's output back into the images, cropping the padding.
/// Every step is one vectorised OpenCV call over a Mat header that points into the tensor buffer; the
/// buffers and headers are kept and reused while the batch shape stays the same, so steady-state
/// packing allocates nothing per frame. A two-frame model's references are packed the same way into a
/// second tensor. One instance per thread.
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
    private float[] _reference = [];
    private Mat[] _inputPlanes = [];
    private Mat[] _referencePlanes = [];
    private Mat[] _outputCrops = [];
    private (int Batch, int Height, int Width, int CropHeight, int CropWidth, bool WithReference) _shape;

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

    /// <summary>The packed references of a batch prepared with them; null otherwise.</summary>
    public float[]? Reference => _shape.WithReference ? _reference : null;

    public int PaddedHeight => _shape.Height;

    public int PaddedWidth => _shape.Width;

    /// <summary>Rounds a size up to the model's pad multiple.</summary>
    public int Pad(int size) => (size + _metadata.PadMultiple - 1) / _metadata.PadMultiple * _metadata.PadMultiple;

    /// <summary>
    /// Prepares buffers for <paramref name="batch"/> images of <paramref name="height"/> × <paramref name="width"/>,
    /// and as many references when <paramref name="withReference"/> is set.
    /// </summary>
    public void Prepare(int batch, int height, int width, bool withReference = false)
    {
        int paddedHeight = Pad(height);
        int paddedWidth = Pad(width);
        if (_shape == (batch, paddedHeight, paddedWidth, height, width, withReference))
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

        if (withReference && _reference.Length < length)
        {
            _reference = GC.AllocateUninitializedArray<float>(length, pinned: true);
        }

        DisposeHeaders();
        _inputPlanes = new Mat[batch * 3];
        _outputCrops = new Mat[batch * 3];
        _referencePlanes = new Mat[withReference ? batch * 3 : 0];
        int planeLength = paddedHeight * paddedWidth;
        for (int i = 0; i < batch * 3; i++)
        {
            _inputPlanes[i] = PlaneHeader(_input, i * planeLength, paddedHeight, paddedWidth);
            using Mat outputPlane = PlaneHeader(_output, i * planeLength, paddedHeight, paddedWidth);
            _outputCrops[i] = new Mat(outputPlane, new Rect(0, 0, width, height));
            if (withReference)
            {
                _referencePlanes[i] = PlaneHeader(_reference, i * planeLength, paddedHeight, paddedWidth);
            }
        }

        _shape = (batch, paddedHeight, paddedWidth, height, width, withReference);
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
    public void Pack(Mat image, int index) => PackInto(_inputPlanes, image, index);

    /// <summary>Writes a reference (BGR 8UC3, the prepared size) into slot <paramref name="index"/> of the reference tensor.</summary>
    public void PackReference(Mat reference, int index)
    {
        if (!_shape.WithReference)
        {
            throw new InvalidOperationException("the batch was prepared without references");
        }

        PackInto(_referencePlanes, reference, index);
    }

    private void PackInto(Mat[] planes, Mat image, int index)
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
            _channel8.ConvertTo(planes[(index * 3) + c], MatType.CV_32F, _alpha[c], _beta[c]);
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

        foreach (Mat m in _referencePlanes)
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
