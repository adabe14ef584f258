using Diffusion.Configuration;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Onnx;

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

    /// <summary>Threads used inside one operator; null: ONNX Runtime's default (one per physical core).</summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>Threads used to run independent operators in parallel; null: ONNX Runtime's default.</summary>
    public int? InterOpThreads { get; set; }

    /// <summary>Graph optimizations applied when the session is created.</summary>
    public OnnxGraphOptimizationLevel GraphOptimizationLevel { get; set; } = OnnxGraphOptimizationLevel.All;

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
