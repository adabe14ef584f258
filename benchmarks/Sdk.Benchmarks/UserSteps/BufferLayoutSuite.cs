using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Benchmarks.UserSteps;

/// <summary>
/// Whether a step's speed depends on where the caller's buffers sit (#28 item 9): the user loop of
/// <see cref="UserStepsSuite"/> on 1×4×64×64, its three buffers (sample, model input, model output) allocated as users
/// allocate them, back to back <c>new float[16384]</c> (64 KiB + a 24-byte header apart, so 24 bytes apart modulo
/// 4 KiB: the distance at which a load can be mistaken for depending on a recent store, "4K aliasing"), next to the
/// same loop with each buffer moved by 1 KiB. Alternating rounds in one run; ratio = users' layout ÷ moved. Twice: the
/// loop calling <c>ScaleModelInput</c> at every step (a copy where it is the identity), and README's loop, which skips
/// the call where <see cref="ISampler.ScalesModelInput"/> says the network sees the sample itself.
/// </summary>
public static class BufferLayoutSuite
{
    /// <summary>The samplers measured: the multistep ones the issue names, and a one-step sampler for comparison.</summary>
    public static readonly string[] Samplers = [SamplerNames.DpmSolver, SamplerNames.DpmSolverSinglestep, SamplerNames.Kdpm2, SamplerNames.Deis, SamplerNames.UniPc, SamplerNames.Euler];

    private const int Elements = 1 * 4 * 64 * 64, Runs = 9, Rounds = 15, WarmRuns = 20;

    /// <summary>Runs the comparison and logs one line per sampler; returns (sampler, users µs, moved µs, ratio).</summary>
    public static List<(string Sampler, double UsersUs, double MovedUs, double Ratio)> Run(ISamplerFactory factory, Action<string> log)
    {
        var rows = new List<(string, double, double, double)>();
        foreach (var alwaysScale in new[] { true, false })
        {
            log(alwaysScale ? "ScaleModelInput at every step:" : "README's loop (ScaleModelInput only where ScalesModelInput):");
            rows.AddRange(Run(factory, log, alwaysScale));
        }
        return rows;
    }

    private static List<(string Sampler, double UsersUs, double MovedUs, double Ratio)> Run(ISamplerFactory factory, Action<string> log, bool alwaysScale)
    {
        // Allocated the way a user's loop allocates them, one after the other.
        var users = new Buffers(new float[Elements], new float[Elements], new float[Elements], 0, alwaysScale);
        var moved = new Buffers(new float[Elements + 256], new float[Elements + 512], new float[Elements + 768], 1, alwaysScale);
        log($"users' buffers modulo 4 KiB: {users.Describe()}; moved: {moved.Describe()}");
        var rows = new List<(string, double, double, double)>();
        foreach (var name in Samplers)
        {
            for (var i = 0; i < WarmRuns; i++)
            {
                users.Run(factory, name);
                moved.Run(factory, name);
            }
            var (a, b) = (new List<double>(), new List<double>());
            for (var r = 0; r < Rounds; r++)
            {
                if (r % 2 == 0) { a.Add(users.Measure(factory, name)); b.Add(moved.Measure(factory, name)); }
                else { b.Add(moved.Measure(factory, name)); a.Add(users.Measure(factory, name)); }
            }
            var ratios = a.Zip(b, (x, y) => x / y).ToList();
            var row = (name, SideBySide.Quantile(a, 0.5), SideBySide.Quantile(b, 0.5), SideBySide.Quantile(ratios, 0.5));
            rows.Add(row);
            log($"{name,-24} users' layout {row.Item2,7:F2} µs/step  moved {row.Item3,7:F2} µs/step  ratio {row.Item4:F2} ({SideBySide.Quantile(ratios, 0.25):F2}–{SideBySide.Quantile(ratios, 0.75):F2})");
        }
        return rows;
    }

    /// <summary>The caller's three buffers, used from <paramref name="kiB"/> KiB × their index into each array.</summary>
    private sealed class Buffers(float[] sample, float[] modelInput, float[] modelOutput, int kiB, bool alwaysScale)
    {
        private Span<float> Sample => sample.AsSpan(256 * kiB * 0, Elements);
        private Span<float> ModelInput => modelInput.AsSpan(256 * kiB * 1, Elements);
        private Span<float> ModelOutput => modelOutput.AsSpan(256 * kiB * 2, Elements);

        public string Describe()
        {
            long At(float[] a, int offset)
            {
                var handle = GCHandle.Alloc(a, GCHandleType.Pinned);
                try { return (handle.AddrOfPinnedObject().ToInt64() + 4L * offset) % 4096; }
                finally { handle.Free(); }
            }
            return $"sample {At(sample, 0)}, model input {At(modelInput, 256 * kiB)}, model output {At(modelOutput, 512 * kiB)}";
        }

        public double Measure(ISamplerFactory factory, string name)
        {
            var times = new double[Runs];
            for (var i = 0; i < Runs; i++) times[i] = Run(factory, name);
            return SideBySide.Quantile(times, 0.5);
        }

        // README's loop: a fresh sampler, 50 steps, the model output fixed; µs per step call on the thread's CPU clock.
        public double Run(ISamplerFactory factory, string name)
        {
            new TorchGaussianNoise(3).NextGaussian(ModelOutput);
            TensorPrimitives.Multiply(ModelOutput, 0.1f, ModelOutput);
            var clock = ThreadClock.NowMicroseconds();
            var sampler = factory.Create(name, UserStepsSuite.Config());
            sampler.SetTimesteps(UserStepsSuite.Steps);
            var noise = new TorchGaussianNoise(seed: 42);
            noise.NextGaussian(Sample);
            TensorPrimitives.Multiply(Sample, (float)sampler.InitNoiseSigma, Sample);
            var timesteps = sampler.Timesteps;
            for (var k = 0; k < timesteps.Count; k++)
            {
                var t = timesteps[k];
                if (alwaysScale || sampler.ScalesModelInput(t)) sampler.ScaleModelInput(Sample, t, ModelInput);
                sampler.Step(new StepInput(ModelOutput, t, Sample, 1), new StepOutput(Sample), noise);
            }
            return (ThreadClock.NowMicroseconds() - clock) / timesteps.Count;
        }
    }
}
