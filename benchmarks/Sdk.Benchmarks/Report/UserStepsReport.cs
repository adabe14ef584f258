using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;
using System.Text;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Benchmarks.UserSteps;

namespace Diffusion.Benchmarks.Report;

/// <summary>The report's section on the <c>user-steps</c> suite: a user's loop and the noise draw against the reference, side by side.</summary>
public static class UserStepsReport
{
    /// <summary>Appends the section.</summary>
    public static void Write(SuiteRun<UserStepsResult> run, BenchmarkResults.UserStepsBefore? before, StringBuilder md)
    {
        var c = CultureInfo.InvariantCulture;
        var s = run.Results;
        md.AppendLine("## A user's sampling loop against the reference");
        md.AppendLine();
        md.AppendLine("`-- user-steps`: the loop of README's \"Use a sampler directly\", for every sampler registered in the factory, on Stable Diffusion's " +
                      "schedule (scaled linear β from 0.00085 to 0.012, 1000 training steps; every other setting the sampler's default), next to the " +
                      "same loop through the reference (diffusers' scheduler classes on torch, CPU, one thread), measured in the same run: " + s.Method);
        md.AppendLine();
        md.AppendLine($"Reference: {s.Reference}. Ratio = reference ÷ SDK, per step call (higher: the SDK is faster); target ≥ 10× for every sampler on both shapes " +
                      "(bold: below it). A stochastic sampler's step includes drawing its noise, the table after this one.");
        md.AppendLine();
        md.AppendLine("| sampler | shape | calls | SDK, per step | reference, per step | ratio | allocated by steps 2… (B) |");
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in s.Rows)
        {
            var ratio = r.Ratio is { } x ? (x >= 10 ? x.ToString("F1", c) + "×" : $"**{x.ToString("F1", c)}×**") : "–";
            md.AppendLine(string.Format(c, "| {0} | {1} | {2} | {3:F2} µs | {4} | {5} | {6} |", r.Sampler, Shape(r.Shape), r.Calls, r.SdkUs,
                r.ReferenceUs is { } u ? u.ToString("F1", c) + " µs" : r.Note ?? "not measured", ratio, r.WarmStepBytes));
        }
        md.AppendLine();
        md.AppendLine("Seeded noise, one draw of the whole tensor: `TorchGaussianNoise` (bit-for-bit `torch.randn` with the same seed) against " +
                      "`torch.randn(shape, generator=…)` in the same run:");
        md.AppendLine();
        md.AppendLine("| shape | TorchGaussianNoise | torch.randn | ratio | allocated |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var n in s.Noise)
            md.AppendLine(string.Format(c, "| {0} | {1:F2} µs | {2} | {3} | {4} B |", Shape(n.Shape), n.SdkUs,
                n.TorchUs is { } t ? t.ToString("F1", c) + " µs" : "not measured", n.Ratio is { } x ? x.ToString("F2", c) + "×" : "–", n.Bytes));
        md.AppendLine();

        if (before?.UserSteps?.Results is { } b)
        {
            md.AppendLine("### Before and after");
            md.AppendLine();
            md.AppendLine($"`benchmarks/results/user-steps-before.json`: this suite run on the SDK before these fixes ({before.Note}), " +
                          $"on {b.Reference}, {before.UserSteps.Date:yyyy-MM-dd HH:mm} UTC. Ratios are against the reference measured in each run.");
            md.AppendLine();
            md.AppendLine("| sampler | shape | SDK per step before | ratio before | SDK per step now | ratio now |");
            md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: |");
            foreach (var r in s.Rows)
            {
                if (b.Rows.SingleOrDefault(o => o.Sampler == r.Sampler && o.Shape == r.Shape) is not { } o) continue;
                md.AppendLine(string.Format(c, "| {0} | {1} | {2:F2} µs | {3} | {4:F2} µs | {5} |", r.Sampler, Shape(r.Shape), o.SdkUs, Ratio(o.Ratio, c), r.SdkUs, Ratio(r.Ratio, c)));
            }
            foreach (var n in s.Noise)
            {
                if (b.Noise.SingleOrDefault(o => o.Shape == n.Shape) is not { } o) continue;
                md.AppendLine(string.Format(c, "| noise draw | {0} | {1:F2} µs | {2} | {3:F2} µs | {4} |", Shape(n.Shape), o.SdkUs, Ratio(o.Ratio, c), n.SdkUs, Ratio(n.Ratio, c)));
            }
            md.AppendLine();
        }

        md.AppendLine("### Where a user's loop lost its time, and what changed");
        md.AppendLine();
        md.AppendLine("- **Tier-0 code.** The steady-state suite above measures steps after BenchmarkDotNet's warm-up, when the JIT has recompiled every " +
                      "method at full optimisation. A user's first runs execute tier-0 code: no inlining, so each `ElementWise` operator call and each " +
                      "`TensorPrimitives` call (System.Numerics.Tensors ships without precompiled code) costs a call per vector. The element loops " +
                      "(`ElementWise`, the noise kernels) are now compiled fully optimised on first use (`MethodImplOptions.AggressiveOptimization`), " +
                      "and the per-step `TensorPrimitives` calls (clipping, Euler's input scaling and ε → x₀, PNDM's Runge–Kutta sums) are " +
                      "`ElementWise` passes with the same roundings.");
        md.AppendLine("- **Seeded noise.** `TorchGaussianNoise` drew its uniforms one at a time and ran torch's 16-wide Box–Muller one lane at a time; " +
                      "it now regenerates and tempers the Mersenne Twister state on `Vector512`/`Vector256` registers and runs the Box–Muller " +
                      "polynomials on two or one 16-value blocks per vector pair, with the same bits on every path (tests call each path directly).");
        md.AppendLine("- **Passes over memory.** DDIM and DDPM (ε models without dynamic thresholding) and Euler/Euler ancestral (ε models) compute " +
                      "x̂₀ inside their update's pass instead of writing it to a scratch tensor first and clipping it in two more passes; the " +
                      "roundings are those of the chain they replace (the snapshot and reference tests pass unchanged).");
        md.AppendLine("- **First-run setup.** A sampler is built once per run, fewer times than the JIT's tier-up count, so its schedule tables " +
                      "were built by tier-0 code: those loops are compiled optimised on first use, `NoiseSchedule` computes its derived tables " +
                      "on first use, σ interpolation bisects instead of scanning the training table.");
        md.AppendLine();
        md.AppendLine("What is left in the stochastic samplers on 1×4×64×64: the noise draw itself (the noise table) is about 70 % of their step; " +
                      "the rest of the step is one pass over memory plus `ScaleModelInput`'s copy or division.");
        md.AppendLine();
        md.AppendLine("The SDK's side is timed as a whole run, so a sampler's construction (its noise schedule), `SetTimesteps` and the first " +
                      "step's scratch buffers are in its per-step figure, as the reference's are in its. Steps after the first allocate nothing " +
                      "(last column; the conformance kit asserts the same).");
        md.AppendLine();
        md.AppendLine("To measure the reference, `/usr/bin/python3` needs torch (Debian: `apt-get install python3-torch`) and `DIFFUSERS_SRC` must name " +
                      "the `src` folder of a diffusers checkout (`git clone https://github.com/huggingface/diffusers /tmp/diffusers`, then " +
                      "`DIFFUSERS_SRC=/tmp/diffusers/src dotnet run -c Release --project benchmarks/Sdk.Benchmarks -- user-steps`). diffusers need not " +
                      "be installed and nothing of it is in this repository: `UserSteps/reference_user_steps.py` imports only its scheduler modules, " +
                      "standing in for the configuration, hub and logging modules they import. Without torch, or without `DIFFUSERS_SRC`, the " +
                      "reference columns say \"not measured\"; a scheduler the reference cannot import (LMS needs scipy) says why.");
        md.AppendLine();
    }

    private static string Ratio(double? ratio, CultureInfo c) => ratio is { } x ? x.ToString("F1", c) + "×" : "–";

    private static string Shape(string shape) => shape.Replace("x", "×", StringComparison.Ordinal);
}
