using System.Globalization;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// A Brownian motion W on [t₀, t₁] whose increments over any interval are reproducible from a seed, whatever the order of
/// the queries: torchsde's <c>BrownianInterval</c> (Li et al. 2020, "Scalable Gradients for Stochastic Differential
/// Equations", and Kidger et al. 2021's Brownian Interval) with the settings DPM-Solver SDE uses (<c>halfway_tree</c>,
/// tolerance 10⁻⁶, a pool of 24 words, no Lévy area), ported so that a seed gives the reference's increments.
/// </summary>
/// <remarks>
/// <para>The interval is a binary tree split at halfway points (rounded to 6 decimals, as the tolerance asks). The top
/// holds W(t₁) − W(t₀) = √(t₁ − t₀)·z; a node split at m gives its left child the Brownian bridge
/// (m − s)/h·W + √((m − s)(e − m)/h)·z (h = e − s) and its right child the rest, z drawn with torch's generator from a seed
/// that numpy's <see cref="NumpySeedSequence"/> derives from the entropy and the node's place in the tree. A query
/// [a, b] sums the increments of the tree's nodes that tile it, left to right, in float32 as torch does.</para>
/// <para>Nodes' increments are recomputed from their parents on demand and the most recent ones are cached; the values do
/// not depend on the cache.</para>
/// </remarks>
public sealed class BrownianTreeNoise
{
    private const int PoolSize = 24, CacheSize = 45;
    private readonly int _length;
    private readonly ulong _entropy;
    private readonly Node _top;
    private readonly float[] _topIncrement;
    private readonly Dictionary<Node, float[]> _cache = [];
    private readonly LinkedList<Node> _recent = new();
    private Node _last;

    /// <summary>A Brownian motion of <paramref name="length"/> independent components on [<paramref name="t0"/>, <paramref name="t1"/>].</summary>
    /// <param name="length">The number of values of one increment (the sample's length).</param>
    /// <param name="t0">The start of the time interval.</param>
    /// <param name="t1">Its end (above <paramref name="t0"/>).</param>
    /// <param name="entropy">The seed (torchsde's <c>entropy</c>, the reference's <c>noise_sampler_seed</c>).</param>
    public BrownianTreeNoise(int length, double t0, double t1, ulong entropy)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (!(t0 < t1) || !double.IsFinite(t0) || !double.IsFinite(t1))
            throw new ArgumentOutOfRangeException(nameof(t1), $"Need finite t0 < t1 (got {t0}, {t1}).");
        _length = length;
        _entropy = entropy;
        _top = new Node(Round(t0), Round(t1), null, false) { SpawnKey = 0, Depth = 0 };
        _last = _top;
        var seeds = NumpySeedSequence.GenerateState(entropy, [], PoolSize, 3);
        _topIncrement = Gaussian(seeds[0]);
        var scale = (float)Math.Sqrt(t1 - t0);
        for (var i = 0; i < length; i++) _topIncrement[i] *= scale;
    }

    /// <summary>W(b) − W(a), a ≤ b clamped to the interval, in <paramref name="destination"/> (zero where a = b).</summary>
    public void Increment(double a, double b, Span<float> destination)
    {
        if (destination.Length != _length)
            throw new ArgumentException($"The destination has {destination.Length} values; the Brownian motion has {_length}.", nameof(destination));
        a = Math.Clamp(a, _top.Start, _top.End);
        b = Math.Clamp(b, _top.Start, _top.End);
        if (a > b) throw new ArgumentException($"Need a <= b (got {a}, {b}).");
        if (a == b)
        {
            destination.Clear();
            return;
        }
        var pieces = new List<Node>();
        Locate(_last, Round(a), Round(b), pieces);
        _last = pieces[^1];
        IncrementOf(pieces[0]).CopyTo(destination);
        for (var p = 1; p < pieces.Count; p++)
        {
            var w = IncrementOf(pieces[p]);
            for (var i = 0; i < _length; i++) destination[i] += w[i];
        }
    }

    /// <summary>
    /// The noise DPM-Solver SDE's sampler returns for a step from σ to σ_next: the increment over the two (sorted), with the
    /// sign of their order, divided by √|σ_next − σ| (float32, as the reference's tensors) — a standard normal per call.
    /// </summary>
    public void StandardNormal(float sigma, float sigmaNext, Span<float> destination)
    {
        float a = sigma, b = sigmaNext, sign = 1;
        if (a > b) (a, b, sign) = (b, a, -1);
        Increment(a, b, destination);
        var scale = MathF.Sqrt(MathF.Abs(b - a));
        for (var i = 0; i < _length; i++) destination[i] = destination[i] * sign / scale;
    }

    // torchsde rounds every interval end to the tolerance's 6 decimals (Python's round(x, 6)).
    private static double Round(double x) => double.Parse(x.ToString("F6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    // The nodes that tile [a, b], left to right, created (split at halfway points) where missing; from `node` upwards.
    private void Locate(Node node, double a, double b, List<Node> pieces)
    {
        while (a < node.Start || b > node.End) node = node.Parent!;
        while (true)
        {
            if (a == node.Start && b == node.End)
            {
                pieces.Add(node);
                return;
            }
            if (node.Midway is not { } midway)
            {
                Split(node, a == node.Start ? b : a);
                midway = node.Midway!.Value;
            }
            if (b <= midway) node = node.Left!;
            else if (a >= midway) node = node.Right!;
            else
            {
                Locate(node.Left!, a, midway, pieces);
                node = node.Right!;
                a = midway;
            }
        }
    }

    // The halfway tree: split at the (rounded) half, then split the child that holds the requested point, until it is a boundary.
    private void Split(Node node, double point)
    {
        while (true)
        {
            var half = Round(0.5 * (node.End + node.Start));
            node.Midway = half;
            node.Left = new Node(node.Start, half, node, true) { SpawnKey = 2 * node.SpawnKey, Depth = node.Depth + 1 };
            node.Right = new Node(half, node.End, node, false) { SpawnKey = 2 * node.SpawnKey + 1, Depth = node.Depth + 1 };
            node.Seed = NumpySeedSequence.GenerateState(_entropy, [node.SpawnKey, (ulong)node.Depth], PoolSize, 4)[0];
            if (point > half) node = node.Right;
            else if (point < half) node = node.Left;
            else return;
            if (node.Midway is not null) return;
        }
    }

    // A node's increment: the top's, or the Brownian bridge from its parent's (cached).
    private float[] IncrementOf(Node node)
    {
        if (node.Parent is null) return _topIncrement;
        if (_cache.TryGetValue(node, out var cached)) return cached;
        var parent = node.Parent;
        var w = IncrementOf(parent);
        double h = 1 / (parent.End - parent.Start), left = parent.Midway!.Value - parent.Start, right = parent.End - parent.Midway.Value;
        float leftScale = (float)left, reciprocal = (float)h, spread = (float)Math.Sqrt(left * right * h);
        var z = Gaussian(parent.Seed);
        var result = new float[_length];
        for (var i = 0; i < _length; i++)
        {
            var leftW = leftScale * w[i] * reciprocal + spread * z[i];
            result[i] = node.IsLeft ? leftW : w[i] - leftW;
        }
        Remember(node, result);
        return result;
    }

    private void Remember(Node node, float[] increment)
    {
        _cache[node] = increment;
        _recent.AddLast(node);
        if (_recent.Count <= CacheSize) return;
        _cache.Remove(_recent.First!.Value);
        _recent.RemoveFirst();
    }

    // torch.randn(size, generator=torch.Generator().manual_seed(seed)).
    private float[] Gaussian(uint seed)
    {
        var values = new float[_length];
        new TorchGaussianNoise(seed).NextGaussian(values);
        return values;
    }

    private sealed class Node(double start, double end, Node? parent, bool isLeft)
    {
        public double Start { get; } = start;
        public double End { get; } = end;
        public Node? Parent { get; } = parent;
        public bool IsLeft { get; } = isLeft;
        public double? Midway { get; set; }
        public Node? Left { get; set; }
        public Node? Right { get; set; }
        public ulong SpawnKey { get; init; }
        public int Depth { get; init; }
        public uint Seed { get; set; }
    }
}
