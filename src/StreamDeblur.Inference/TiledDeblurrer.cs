using OpenCvSharp;

namespace StreamDeblur.Inference;

/// <summary>
/// Deblurs frames too large for one pass (1080p and up, 4K) in overlapping tiles. Each tile's output is
/// weighted by a window that ramps down over the overlap, and the weighted sum is divided by the sum of
/// weights, so tile borders blend without visible seams.
/// </summary>
public sealed class TiledDeblurrer : IDisposable
{
    private readonly DeblurModel _model;
    private readonly TensorPacker _packer;
    private readonly int _tileSize;
    private readonly int _overlap;
    private const int TilesPerRun = 4;

    public TiledDeblurrer(DeblurModel model, ModelOptions options)
    {
        _model = model;
        _packer = new TensorPacker(model.Metadata);
        int multiple = model.Metadata.PadMultiple;
        _tileSize = Math.Max(multiple, options.TileSize / multiple * multiple);
        _overlap = options.TileOverlap;
    }

    /// <summary>Tile origins along one axis: the last tile ends exactly at the edge.</summary>
    public static List<int> Origins(int length, int tile, int overlap)
    {
        var origins = new List<int>();
        if (length <= tile)
        {
            origins.Add(0);
            return origins;
        }

        int step = Math.Max(1, tile - (2 * overlap));
        for (int start = 0; ; start += step)
        {
            if (start + tile >= length)
            {
                origins.Add(length - tile);
                break;
            }

            origins.Add(start);
        }

        return origins;
    }

    /// <summary>
    /// Deblurs <paramref name="image"/> (BGR 8UC3) in place; a two-frame model also reads the same tiles of
    /// <paramref name="reference"/> (the aligned reference, BGR at the image's size).
    /// </summary>
    public void Deblur(Mat image, Mat? reference = null)
    {
        int tileWidth = Math.Min(_tileSize, image.Width);
        int tileHeight = Math.Min(_tileSize, image.Height);
        List<int> xs = Origins(image.Width, tileWidth, _overlap);
        List<int> ys = Origins(image.Height, tileHeight, _overlap);
        var tiles = new List<Rect>();
        foreach (int y in ys)
        {
            foreach (int x in xs)
            {
                tiles.Add(new Rect(x, y, tileWidth, tileHeight));
            }
        }

        using var accumulator = new Mat(image.Size(), MatType.CV_32FC3, Scalar.All(0));
        using var weightSum = new Mat(image.Size(), MatType.CV_32FC1, Scalar.All(0));
        using Mat window = Window(tileWidth, tileHeight, _overlap);
        using var window3 = new Mat();
        Cv2.Merge([window, window, window], window3);
        using var tileOut = new Mat(tileHeight, tileWidth, MatType.CV_8UC3);
        using var tileFloat = new Mat();

        for (int first = 0; first < tiles.Count; first += TilesPerRun)
        {
            int count = Math.Min(TilesPerRun, tiles.Count - first);
            _packer.Prepare(count, tileHeight, tileWidth, withReference: reference is not null);
            for (int i = 0; i < count; i++)
            {
                using var tile = new Mat(image, tiles[first + i]);
                using Mat contiguous = tile.Clone();
                _packer.Pack(contiguous, i);
                if (reference is not null)
                {
                    using var referenceTile = new Mat(reference, tiles[first + i]);
                    using Mat referenceContiguous = referenceTile.Clone();
                    _packer.PackReference(referenceContiguous, i);
                }
            }

            _model.Run(_packer.Input, _packer.Reference, _packer.Output, count, _packer.PaddedHeight, _packer.PaddedWidth);
            for (int i = 0; i < count; i++)
            {
                _packer.Unpack(i, tileOut);
                tileOut.ConvertTo(tileFloat, MatType.CV_32FC3);
                Cv2.Multiply(tileFloat, window3, tileFloat);
                using var accRoi = new Mat(accumulator, tiles[first + i]);
                using var weightRoi = new Mat(weightSum, tiles[first + i]);
                Cv2.Add(accRoi, tileFloat, accRoi);
                Cv2.Add(weightRoi, window, weightRoi);
            }
        }

        using var weight3 = new Mat();
        Cv2.Merge([weightSum, weightSum, weightSum], weight3);
        Cv2.Divide(accumulator, weight3, accumulator);
        accumulator.ConvertTo(image, MatType.CV_8UC3);
    }

    /// <summary>A separable blending window: 1 in the middle, ramping linearly towards 0 over the overlap.</summary>
    public static Mat Window(int width, int height, int overlap)
    {
        var window = new Mat(height, width, MatType.CV_32FC1);
        var wx = Ramp(width, overlap);
        var wy = Ramp(height, overlap);
        for (int y = 0; y < height; y++)
        {
            Span<float> row = window.RowSpan<float>(y);
            for (int x = 0; x < width; x++)
            {
                row[x] = wx[x] * wy[y];
            }
        }

        return window;
    }

    private static float[] Ramp(int length, int overlap)
    {
        var ramp = new float[length];
        for (int i = 0; i < length; i++)
        {
            int edge = Math.Min(i, length - 1 - i);
            ramp[i] = Math.Min(1f, (edge + 1f) / (overlap + 1f));
        }

        return ramp;
    }

    public void Dispose() => _packer.Dispose();
}
