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
        md.AppendLine("**Second round (2026-12-01, afternoon).** The σ-space base that Euler, Euler ancestral, Heun, KDPM2, KDPM2 ancestral and LMS " +
                      "moved onto had brought the slow paths back: this suite on commit fdb2838 (12:05 UTC, load 4.4) measured Euler at 21.5 µs a step " +
                      "(1.6×), Euler ancestral 29.8 µs (2.9×), Heun 25.7 µs (1.1×), KDPM2 22.7 µs, DDPM 14.7 µs (7.9×), LCM 9.0×, TCD 8.8×. What changed:");
        md.AppendLine();
        md.AppendLine("- **`TensorPrimitives` in the σ-space base.** Its input scaling (x/√(σ²+1)) and ε → x̂₀ were `TensorPrimitives` calls, tier-0 code " +
                      "in a user's first runs (about 8 µs for one 64 KiB division): they are `ElementWise` passes now, and Heun's predictor and LMS's " +
                      "slope are fused into their update. Euler, Euler ancestral and Heun form an ε model's x̂₀ inside their update's pass " +
                      "(`SigmaSamplerBase.AdvancesFromEpsilon`); the same roundings, so the reference trajectories and snapshots pass unchanged.");
        md.AppendLine("- **Setup.** The σ-space samplers built their 1000-entry σ and numpy-log tables per sampler, as tier-0 code: the tables are " +
                      "compiled optimized, and shared by samplers of the same β schedule (the last schedule's are kept). KDPM2's σ → timestep searches " +
                      "are optimized code too (SetTimesteps 235 → 46 µs).");
        md.AppendLine("- **Clamping.** DDPM's and DDIM's x̂₀ clamp used `Vector.Min`/`Max`, whose IEEE 754-2019 semantics cost fix-up " +
                      "instructions on x86: it is the native minimum and maximum with the bound as first operand, which gives the same bits " +
                      "(NaN, signed zeros and infinities tested). In the steady-state suite DDIM's step went from 2.88 to 1.74 µs and DDPM's from 4.99 to 2.68 µs on 1×4×64×64.");
        md.AppendLine("- **Noise in the update's pass.** Stochastic samplers draw their noise a cache-sized piece (4096 values) at a time and consume " +
                      "each piece in the same pass (`SamplerBase.ApplyWithNoise`), instead of writing a noise tensor and reading it back: the values " +
                      "and the generator's state are those of one whole draw (tested on lengths around the block, the chunk and the twister's " +
                      "state). Measured side by side it saves a few tenths of a µs a step on 1×4×64×64 (with pieces of 1024 values it saved " +
                      "nothing). The noise kernels temper the Mersenne Twister's renewed state in the twist's own pass and gather Box–Muller blocks " +
                      "with lane shuffles (about 7 % off a draw).");
        md.AppendLine();
        md.AppendLine("**Third round (2026-12-01, 14:30–15:35 UTC).** At its start, on a quiet machine, Euler ancestral measured 7.2×, Heun 8.2×, " +
                      "LCM 8.0× and TCD 7.2× on 1×4×64×64 (Euler 9.4× and PNDM 9.9× at the edge). What changed:");
        md.AppendLine();
        md.AppendLine("- **512-bit registers.** `ElementWise` ran its operators on `Vector<float>`, which stays 256 bits wide where AVX-512 is " +
                      "accelerated. Operators are now written once over `IFloatVector<T>` and run on `Vector512` where `Vector512.IsHardwareAccelerated`, " +
                      "on `Vector<float>` elsewhere: the same IEEE operations, so the same bits at every width (the width tests run in each of CI's " +
                      "AVX-512, AVX2 and SSE passes). On this Zen 5 machine a division pass over 64 KiB takes 0.73 µs at 512 bits and 1.36 µs at 256, " +
                      "and divisions are what the input scaling x/√(σ²+1) and Euler's and Heun's slopes are made of.");
        md.AppendLine("- **The padded last vector in its own method.** With the stack buffer for a partial last vector in the loop's method, the JIT " +
                      "spilled the operator's scalars and reloaded them on every iteration (store-to-load forwarding on each): Heun's four-input " +
                      "corrector pass took 3.1 µs, 1.45 µs now.");
        md.AppendLine("- **Noise.** The twist and the tempering use AVX-512's three-input logic; Box–Muller leaves out three steps that cannot change a " +
                      "result (checked against the previous kernels on all 2^24 uniforms, every path); the state is renewed, then tempered, in two " +
                      "passes (the fused pass of the second round was no faster once its words renewed one at a time are counted). A 1×4×64×64 draw " +
                      "went from 8.0–8.5 to 6.9–7.4 µs.");
        md.AppendLine("- **Per run.** A user's loop makes a sampler and a generator per run. The noise schedule of the last formula-defined β schedule " +
                      "is shared (a sampler's creation 5.5 → 1.3 µs, 40 → 0.5 KB); scratch buffers are rented from `ArrayPool` and returned when " +
                      "the run ends, and the chunk memory of the noise draws is per thread, so a run no longer touches fresh pages (until the " +
                      "collector first reuses memory each 4 KiB page is a page fault: Heun's two 64 KiB buffers cost it about 0.7 µs a call, " +
                      "3.6 → 2.9 µs in a cold process); the per-call bookkeeping and the σ-space `SetTimesteps` are compiled optimized on first use.");
        md.AppendLine("- **Tried and dropped.** Tempering inside Box–Muller (the uniforms never stored) and a logarithm pass apart from the sine " +
                      "pass were both slower; renewing each run's leftover words by one more overlapping vector was 3 % faster in a plain loop and " +
                      "twice as slow under BenchmarkDotNet (found by bisection, reverted; a tail of 8- and 4-word vectors did the same, so it is the " +
                      "vector stores at the state's end, not the overlap; cause not found).");
        md.AppendLine();
        md.AppendLine("At the end of the third round, nine runs of this suite between 15:29 and 15:44 UTC (5 rounds each; the last three with the rounds " +
                      "going over all the cases in turn, as the suite now does) put every sampler at ≥ 14.8× on " +
                      "8×1×28×28 and the noise draw at 5.4–9.6× `torch.randn`'s speed. On 1×4×64×64 every deterministic sampler is ≥ 11×; the " +
                      "stochastic ones whose reference step is cheap sit at the target: LCM 8.7–11.7×, TCD 8.9–11.0×, Euler ancestral 8.2–11.4× " +
                      "(DDPM 10.1–12.3×). The spread is the machine's: per-round logs show slow spells of several seconds up to a whole run in " +
                      "which the SDK's steps of several samplers at once take ~25 % longer (LCM 11.5–12.2 µs a call against 9.2–9.6 µs in the " +
                      "quiet rounds of the same run) while the reference's interpreter-bound steps move less; tiered compilation off, or both " +
                      "processes pinned to one core, did not remove them, and a harness allocating the same arrays did not reproduce them in " +
                      "25 quiet cases. These samplers' step is mostly the noise draw (torch's MT19937 and Box–Muller, bit for bit, at about " +
                      "0.42 ns a value, ~75 % of a 9 µs step), so the 10× target holds in quiet rounds and not in slow spells.");
        md.AppendLine();
        md.AppendLine("**Fourth round (2026-12-01, 16:00–16:40 UTC).** The noise draw, three quarters of those steps, again:");
        md.AppendLine();
        md.AppendLine("- **The twist without single words.** The 512-bit twist renewed 608 of the 624 words in vectors and the 16 where its rule " +
                      "changes (224–226 and 611–623) one at a time: those took a quarter of its 58 ns. It now renews all of them in 39 whole vectors " +
                      "at 16-word offsets; the vector holding word n − m = 227 and the last one gather their inputs from two loads with one " +
                      "lane-aligning instruction (`valignd`). 36.5 ns a twist; under BenchmarkDotNet the 1×4×64×64 draw went from 7.37 to 6.42 µs, " +
                      "without the slowdown the third round's tails of overlapping or 8- and 4-word stores showed there (its cause is still not known).");
        md.AppendLine("- **Box–Muller software-pipelined.** Timed apart, the logarithm (0.66–0.69 µs a 4096-value chunk) and the sine and " +
                      "cosine (0.73 µs) add up (1.19 µs together, square root left out), though this core issues two 512-bit multiply-adds and " +
                      "two additions a cycle (measured), which would allow about half that: a pair of blocks is a dependency chain of about a " +
                      "hundred cycles, and issued together its waiting operations fill the scheduler. The loop now finishes pair p − 2, continues " +
                      "p − 1 and starts p in each iteration: 1.15 → 1.08–1.11 µs a chunk (GCC -O3 with the same operations: 1.02 µs), a draw " +
                      "6.42 → 6.10 µs under BenchmarkDotNet. The operations on each value and their order are unchanged, so are the bits.");
        md.AppendLine("- **Selects on mask registers.** `Vector512.ConditionalSelect` on a comparison made the JIT expand the comparison's mask " +
                      "register into a vector for a bitwise select; `Avx512F.BlendVariable` keeps the mask and blends with it (the same bits): " +
                      "about 4 % off a draw (6.10–6.30 → 5.85–6.14 µs under BenchmarkDotNet).");
        md.AppendLine("- **Tried and dropped.** Two pairs interleaved in one iteration by hand (no gain: the processor already sees both); the same " +
                      "selects through `ConditionalSelect` with AVX-512 comparisons (no fewer instructions).");
        md.AppendLine("- **CI's vector widths.** CI's rerun of the arithmetic tests \"without AVX-512\" set `DOTNET_EnableAVX512F=0`, which .NET 10 " +
                      "ignores (its switch is `DOTNET_EnableAVX512`): that rerun had run at 512 bits. It uses the honoured switch now, each rerun " +
                      "states the lanes it expects and a test fails if they differ; the whole suite passes at 256 bits.");
        md.AppendLine();
        md.AppendLine("Where it stands: five runs of this suite between 16:35 and 16:38 UTC (the table above is the last) put every step at " +
                      "≥ 11× on both shapes. The closest, on 1×4×64×64: Euler ancestral 11.1–11.6×, TCD 11.4–11.9×, Heun 12.0–13.3×, LCM " +
                      "12.2–12.4×, DDPM 13.5–13.9×; on 8×1×28×28 every sampler is at ≥ 17×. The noise draw is 6.2–7.6× faster than `torch.randn`. " +
                      "A slow spell like those of the third round (the SDK's steps ~25 % longer while it lasts) would still take a stochastic " +
                      "sampler's ratio under 10× for its duration.");
        md.AppendLine();
        md.AppendLine("Without AVX-512 the target is not met: one run with `DOTNET_EnableAVX512=0` on this machine (16:45 UTC, 256-bit " +
                      "vectors, as on an AVX2-only processor) measured the noise draw at 15.2 µs (3.1× faster than `torch.randn`) and, on " +
                      "1×4×64×64, Euler ancestral 6.0×, TCD 6.2×, LCM 7.0×, DDPM 7.3×, Heun 7.9× (every other sampler ≥ 11×). A 256-bit " +
                      "Box–Muller iteration converts one block where a 512-bit one converts two, in about the same time, and that path " +
                      "is neither pipelined nor free of the twist's single words; an AVX2 processor of its own may differ either way.");
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
                      "reference columns say \"not measured\". LMS integrates its coefficients with `scipy.integrate.quad`; where scipy is missing the " +
                      "script stands in for it with a 21-point Gauss–Legendre sum in Python (the same 21 calls of the integrand that QUADPACK's first, " +
                      "accepted pass makes on these polynomials), and the reference line above says so.");
        md.AppendLine();
    }

    private static string Ratio(double? ratio, CultureInfo c) => ratio is { } x ? x.ToString("F1", c) + "×" : "–";

    private static string Shape(string shape) => shape.Replace("x", "×", StringComparison.Ordinal);
}
