using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace StreamDeblur.Inference;

/// <summary>
/// Chooses the ONNX Runtime execution provider. A provider that this build or machine cannot give
/// (no GPU package, no CUDA driver, a missing native entry point) falls back to the next one, and at last
/// to the CPU, with one log line saying why.
/// </summary>
public static class ExecutionProviders
{
    /// <summary>The flavour of the native package this build links: "cpu" or "gpu" (the OrtFlavor build property).</summary>
#if ORT_GPU
    public const string BuildFlavor = "gpu";
#else
    public const string BuildFlavor = "cpu";
#endif

    /// <summary>Appends the requested provider (and its fallbacks) to <paramref name="options"/>; returns the one in use.</summary>
    public static string Configure(SessionOptions options, string requested, int deviceId, ILogger logger)
    {
        string[] chain = requested switch
        {
            "tensorrt" => ["tensorrt", "cuda", "cpu"],
            "cuda" => ["cuda", "cpu"],
            _ => ["cpu"],
        };

        string[] available;
        try
        {
            available = OrtEnv.Instance().GetAvailableProviders();
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException or OnnxRuntimeException)
        {
            available = ["CPUExecutionProvider"];
        }

        foreach (string provider in chain)
        {
            if (provider == "cpu")
            {
                if (requested != "cpu")
                {
                    string hint = BuildFlavor == "gpu"
                        ? "install the CUDA and cuDNN libraries this ONNX Runtime was built against (and TensorRT for tensorrt)"
                        : "build with -p:OrtFlavor=gpu and install CUDA and cuDNN";
                    logger.LogWarning(
                        "execution provider '{Requested}' is not available in this build ({Flavor}) or on this machine; falling back to CPU. To use it, {Hint}",
                        requested, BuildFlavor, hint);
                }

                return "cpu";
            }

            string nativeName = provider == "tensorrt" ? "TensorrtExecutionProvider" : "CUDAExecutionProvider";
            if (!available.Contains(nativeName))
            {
                logger.LogWarning("execution provider '{Provider}' is not in this ONNX Runtime build (has: {Available})", provider, string.Join(", ", available));
                continue;
            }

            try
            {
                if (provider == "tensorrt")
                {
                    options.AppendExecutionProvider_Tensorrt(deviceId);
                }
                else
                {
                    options.AppendExecutionProvider_CUDA(deviceId);
                }

                logger.LogInformation("execution provider: {Provider} (device {Device})", provider, deviceId);
                return provider;
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException or OnnxRuntimeException)
            {
                logger.LogWarning("execution provider '{Provider}' failed to start ({Reason}); trying the next one", provider, ex.Message);
            }
        }

        return "cpu";
    }
}
