using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/StreamDeblur.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(StreamDeblur.Benchmarks.BlurEstimatorBenchmarks).Assembly).Run(args);
