using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace StreamDeblur.Inference;

/// <summary>
/// One long-lived ONNX Runtime session over the deblurring network, checked against its metadata at load.
/// The network takes float32 NCHW images with dynamic N, H and W (H and W multiples of the pad multiple).
/// </summary>
public sealed class DeblurModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();

    private DeblurModel(InferenceSession session, ModelMetadata metadata, string provider, string path)
    {
        _session = session;
        Metadata = metadata;
        Provider = provider;
        ModelPath = path;
    }

    public ModelMetadata Metadata { get; }

    /// <summary>The execution provider in use: cpu, cuda or tensorrt.</summary>
    public string Provider { get; }

    public string ModelPath { get; }

    public static DeblurModel Load(ModelOptions options, ILogger logger)
    {
        ModelMetadata metadata = ModelMetadata.Load(InstalledFiles.Find(options.Metadata));
        string path = metadata.ModelPath(options.Fp16, options.Int8);
        if (!File.Exists(path))
        {
            throw new ModelException($"model file not found: {path} (named by {options.Metadata})");
        }

        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = options.InterOpThreads,
        };
        string spinning = options.AllowSpinning ? "1" : "0";
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning);
        sessionOptions.AddSessionConfigEntry("session.inter_op.allow_spinning", spinning);
        string provider = ExecutionProviders.Configure(sessionOptions, options.ExecutionProvider, options.DeviceId, logger);

        InferenceSession session;
        try
        {
            session = new InferenceSession(path, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelException($"cannot load model {path}: not a valid ONNX model ({FirstLine(ex.Message)})", ex);
        }

        try
        {
            CheckSignature(session, metadata, path);
        }
        catch
        {
            session.Dispose();
            throw;
        }

        var model = new DeblurModel(session, metadata, provider, path);
        PipelineMetrics.InferenceInfo.WithLabels(provider, options.ExecutionProvider, metadata.Name).Set(1);
        logger.LogInformation("model {Name} loaded from {Path} on {Provider} ({Params} parameters, {Gmac} GMAC per 720p frame)",
            metadata.Name, path, provider, metadata.Params, metadata.Gmac720p);
        return model;
    }

    private static void CheckSignature(InferenceSession session, ModelMetadata metadata, string path)
    {
        if (!session.InputMetadata.TryGetValue(metadata.Input, out NodeMetadata? input))
        {
            throw new ModelException($"model {path} has no input named '{metadata.Input}' (it has: {string.Join(", ", session.InputMetadata.Keys)}); wrong model for this metadata?");
        }

        if (!session.OutputMetadata.TryGetValue(metadata.Output, out NodeMetadata? output))
        {
            throw new ModelException($"model {path} has no output named '{metadata.Output}' (it has: {string.Join(", ", session.OutputMetadata.Keys)})");
        }

        foreach ((string role, NodeMetadata node) in new[] { ("input", input), ("output", output) })
        {
            int[] dims = node.Dimensions;
            if (node.ElementDataType != TensorElementType.Float || dims.Length != 4 || (dims[1] != 3 && dims[1] != -1))
            {
                throw new ModelException(
                    $"model {path}: its {role} is {node.ElementDataType}[{string.Join(",", dims)}], but the pipeline needs float[N,3,H,W]");
            }
        }
    }

    /// <summary>Runs the network on a packed batch. <paramref name="input"/> and <paramref name="output"/> are [N,3,H,W].</summary>
    public void Run(float[] input, float[] output, int batch, int height, int width)
    {
        long[] shape = [batch, 3, height, width];
        int length = batch * 3 * height * width;
        using OrtValue inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, length), shape);
        using OrtValue outputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output.AsMemory(0, length), shape);
        _session.Run(_runOptions, [Metadata.Input], [inputValue], [Metadata.Output], [outputValue]);
    }

    /// <summary>Runs once on a small image so that the first real frame does not pay for initialisation.</summary>
    public TimeSpan WarmUp(int height = 64, int width = 64)
    {
        int m = Metadata.PadMultiple;
        height = (height + m - 1) / m * m;
        width = (width + m - 1) / m * m;
        var buffer = new float[3 * height * width];
        var result = new float[buffer.Length];
        long start = Stopwatch.GetTimestamp();
        Run(buffer, result, 1, height, width);
        return Stopwatch.GetElapsedTime(start);
    }

    private static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n');
        return newline > 0 ? message[..newline] : message;
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}
