// Times ONNX models in ONNX Runtime (CPU) on one zero-filled frame, padded to a multiple of 32. Every input of
// the graph gets such a frame, so a two-frame (fixed-camera) model is timed with its reference.
// Usage: dotnet run -c Release --project bench/OrtModelTiming -- [--threads 2] [--runs 5] [--size 1280x720] a.onnx b.onnx ...
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

var threads = 2;
var runs = 5;
var (width, height) = (1280, 720);
var models = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--threads": threads = int.Parse(args[++i]); break;
        case "--runs": runs = int.Parse(args[++i]); break;
        case "--size":
            var parts = args[++i].Split('x');
            (width, height) = (int.Parse(parts[0]), int.Parse(parts[1]));
            break;
        default: models.Add(args[i]); break;
    }
}

var paddedWidth = (width + 31) / 32 * 32;
var paddedHeight = (height + 31) / 32 * 32;
foreach (var path in models)
{
    using var options = new SessionOptions
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };
    options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
    using var session = new InferenceSession(path, options);
    var inputs = session.InputMetadata.Keys
        .Select(name => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(new[] { 1, 3, paddedHeight, paddedWidth })))
        .ToArray();
    using (session.Run(inputs)) { } // warm-up
    var times = new List<double>();
    for (var r = 0; r < runs; r++)
    {
        var watch = Stopwatch.StartNew();
        using (session.Run(inputs)) { }
        times.Add(watch.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"{Path.GetFileName(path),-24} {paddedWidth}x{paddedHeight} x{inputs.Length}  median {times[times.Count / 2],8:F1} ms  min {times[0],8:F1} ms  ({threads} threads)");
}
