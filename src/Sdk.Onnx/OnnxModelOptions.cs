using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx;

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum OnnxExecutionProvider
{
    /// <summary>The CPU (the default; always available).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through CUDA. Needs the GPU build of ONNX Runtime (<c>dotnet build -p:OnnxRuntimeGpu=true</c>) and CUDA on the machine; loading fails otherwise.</summary>
    Cuda,
    /// <summary>CUDA when it can be used, else the CPU with a logged warning.</summary>
    Auto,
}

/// <summary>How much ONNX Runtime rewrites the graph before running it (ONNX Runtime's <c>GraphOptimizationLevel</c>).</summary>
public enum OnnxGraphOptimizationLevel
{
    /// <summary>No rewriting.</summary>
    None,
    /// <summary>Constant folding and redundant-node removal.</summary>
    Basic,
    /// <summary>Basic plus node fusions.</summary>
    Extended,
    /// <summary>Everything, layout optimizations included (ONNX Runtime's default).</summary>
    All,
}

/// <summary>How ONNX Runtime schedules the operators of one call (ONNX Runtime's <c>ExecutionMode</c>).</summary>
public enum OnnxExecutionMode
{
    /// <summary>One operator after another, each using the intra-op threads (ONNX Runtime's default).</summary>
    Sequential,
    /// <summary>Independent branches of the graph at once on the inter-op threads.</summary>
    Parallel,
}

/// <summary>
/// How <see cref="OnnxDiffusionModel.Load"/> opens a model: the execution provider, ONNX Runtime session settings,
/// explicit input and output names for exports whose names the loader does not recognise, and — for a bare
/// <c>.onnx</c> file without a <c>scheduler_config.json</c> beside it — the facts the sampler needs.
/// Bind it from configuration (section <see cref="SectionName"/>) with the Options pattern, or set it in code.
/// </summary>
public sealed class OnnxModelOptions
{
    /// <summary>The configuration section the options bind from by default.</summary>
    public const string SectionName = "Onnx";

    /// <summary>Where the model runs; <see cref="OnnxExecutionProvider.Cpu"/> by default.</summary>
    public OnnxExecutionProvider ExecutionProvider { get; set; } = OnnxExecutionProvider.Cpu;

    /// <summary>The CUDA device ordinal for <see cref="OnnxExecutionProvider.Cuda"/> and <see cref="OnnxExecutionProvider.Auto"/>.</summary>
    public int DeviceId { get; set; }

    // The CPU defaults below are the fastest settings measured on the embedded digits UNet and the Stable Diffusion
    // test UNet (benchmarks/Sdk.Benchmarks -- onnx-settings; docs/benchmarks.md, "ONNX Runtime settings").

    /// <summary>
    /// Threads used inside one operator (convolutions, matrix products). Null (the default): one per logical core
    /// (<see cref="Environment.ProcessorCount"/>), set explicitly. 0: ONNX Runtime's own default, one per physical core
    /// pinned to the cores, which measured up to 1.6 times slower on a machine shared with other work (a pinned thread
    /// cannot move off a busy core). 1 measured fastest on a 2-core machine kept busy by other processes; on a machine of
    /// its own, more threads finish a large batch sooner.
    /// </summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>
    /// Threads that run independent operators at once in <see cref="OnnxExecutionMode.Parallel"/> mode; null or 0:
    /// ONNX Runtime's default. Ignored in sequential mode.
    /// </summary>
    public int? InterOpThreads { get; set; }

    /// <summary>
    /// Sequential or parallel operator scheduling. Null (the default): parallel when <see cref="InterOpThreads"/> is
    /// above 1, else sequential. A diffusion UNet is a chain with few independent branches, so parallel mode
    /// rarely pays.
    /// </summary>
    public OnnxExecutionMode? ExecutionMode { get; set; }

    /// <summary>Graph optimizations applied when the session is created; <see cref="OnnxGraphOptimizationLevel.All"/> by default.</summary>
    public OnnxGraphOptimizationLevel GraphOptimizationLevel { get; set; } = OnnxGraphOptimizationLevel.All;

    /// <summary>
    /// Whether the CPU provider keeps freed buffers in its arena for the next call (ONNX Runtime's
    /// <c>EnableCpuMemArena</c>); true by default. Off returns memory to the system after each call, at the cost of
    /// allocating again on the next.
    /// </summary>
    public bool EnableMemoryArena { get; set; } = true;

    /// <summary>
    /// Whether ONNX Runtime plans one allocation for all intermediate tensors from the first call's shapes and reuses
    /// it while the shapes stay the same (ONNX Runtime's <c>EnableMemoryPattern</c>); true by default.
    /// </summary>
    public bool EnableMemoryPattern { get; set; } = true;

    /// <summary>
    /// Whether idle intra-op threads spin, waiting for the next piece of work, instead of sleeping (the session
    /// setting <c>session.intra_op.allow_spinning</c>). False by default (ONNX Runtime's own default is to spin):
    /// spinning threads take cores from everything else, the sampler's own work and other sessions included, and
    /// turning it off measured 1.5 to 1.9 times faster on a shared machine. A process alone on a many-core machine
    /// may gain a little from true.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// Whether the CPU treats subnormal floats (below 1.2e-38) as zero inside ONNX Runtime (the session setting
    /// <c>session.set_denormal_as_zero</c>); false by default. Tiny activations can become subnormal, which x64 CPUs
    /// compute many times slower; flushing them changes results only below that magnitude. Off by default although it
    /// measured faster in combination with the other defaults, because ONNX Runtime also sets the flush-to-zero mode
    /// on the thread that creates the session, changing that thread's own float arithmetic.
    /// </summary>
    public bool DenormalsAsZero { get; set; }

    /// <summary>The name of the noisy-sample input (NCHW); null: <c>sample</c>, else the only rank-4 float input.</summary>
    public string? SampleInput { get; set; }

    /// <summary>The name of the timestep input; null: <c>timestep</c>/<c>timesteps</c>/<c>t</c>, else the only remaining integer or scalar-like input.</summary>
    public string? TimestepInput { get; set; }

    /// <summary>The name of the class-label input; null: <c>class_labels</c>/<c>class_label</c>/<c>labels</c>/<c>y</c> when present.</summary>
    public string? ClassLabelsInput { get; set; }

    /// <summary>The name of the text-conditioning input; null: <c>encoder_hidden_states</c>/<c>context</c> when present.</summary>
    public string? EncoderHiddenStatesInput { get; set; }

    /// <summary>The name of the prediction output; null: the only output, else <c>out_sample</c>, else the only rank-4 float output.</summary>
    public string? Output { get; set; }

    /// <summary>
    /// The scheduler configuration for a model that ships none. When set it replaces
    /// <c>scheduler/scheduler_config.json</c>; <see cref="NumTrainTimesteps"/> and <see cref="PredictionType"/> then
    /// still override its values.
    /// </summary>
    public SchedulerConfig? SchedulerConfig { get; set; }

    /// <summary>Training timesteps T of the model; overrides the scheduler configuration's value when set.</summary>
    public int? NumTrainTimesteps { get; set; }

    /// <summary>What the model predicts; overrides the scheduler configuration's value when set.</summary>
    public PredictionType? PredictionType { get; set; }

    /// <summary>The class label that means "unconditional"; overrides <c>unet/config.json</c> and the ONNX metadata.</summary>
    public long? UnconditionalLabel { get; set; }

    /// <summary>Number of real classes; overrides <c>unet/config.json</c> and the ONNX metadata.</summary>
    public int? NumClasses { get; set; }

    /// <summary>
    /// Called with the ONNX Runtime session options after the settings above are applied and before the session is
    /// created: an escape hatch for settings this class does not expose (session config entries, memory arenas,
    /// other execution providers). Not bindable from configuration.
    /// </summary>
    public Action<SessionOptions>? ConfigureSession { get; set; }
}
