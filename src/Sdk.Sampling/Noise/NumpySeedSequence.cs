namespace Diffusion.Sdk.Sampling;

/// <summary>
/// numpy's <c>SeedSequence</c> (O'Neill's seed_seq hashing, as <c>numpy.random.bit_generator</c> implements it): entropy and
/// a spawn key mixed into a pool of 32-bit words, from which <see cref="GenerateState"/> draws seeds. torchsde derives the
/// seed of every node of its Brownian tree this way; the same words give the same tree.
/// </summary>
public static class NumpySeedSequence
{
    private const uint InitA = 0x43b0d7e5, MultA = 0x931e8875, InitB = 0x8b51f9dd, MultB = 0x58f38ded;
    private const uint MixMultL = 0xca01f9dd, MixMultR = 0x4973f715;
    private const int XShift = 16;

    /// <summary>
    /// <c>SeedSequence(entropy, spawn_key, pool_size).generate_state(count)</c> (uint32 words).
    /// </summary>
    /// <param name="entropy">The non-negative entropy integer.</param>
    /// <param name="spawnKey">The spawn key's non-negative integers (empty for none).</param>
    /// <param name="poolSize">The pool's size in words (numpy's default 4).</param>
    /// <param name="count">How many words to generate.</param>
    public static uint[] GenerateState(ulong entropy, ReadOnlySpan<ulong> spawnKey, int poolSize, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(poolSize, 1);
        // The assembled entropy: the entropy's words, padded with zeros to the pool size when a spawn key follows, then the key's.
        var words = new List<uint>(Words(entropy));
        if (!spawnKey.IsEmpty && words.Count < poolSize) words.AddRange(new uint[poolSize - words.Count]);
        foreach (var key in spawnKey) words.AddRange(Words(key));

        // mix_entropy.
        var pool = new uint[poolSize];
        var hashConst = InitA;
        for (var i = 0; i < poolSize; i++) pool[i] = HashMix(i < words.Count ? words[i] : 0u, ref hashConst);
        for (var src = 0; src < poolSize; src++)
            for (var dst = 0; dst < poolSize; dst++)
                if (src != dst) pool[dst] = Mix(pool[dst], HashMix(pool[src], ref hashConst));
        for (var src = poolSize; src < words.Count; src++)
            for (var dst = 0; dst < poolSize; dst++)
                pool[dst] = Mix(pool[dst], HashMix(words[src], ref hashConst));

        // generate_state: the pool cycled through a second hash.
        var state = new uint[count];
        var constB = InitB;
        for (var i = 0; i < count; i++)
        {
            var value = pool[i % poolSize] ^ constB;
            constB *= MultB;
            value *= constB;
            value ^= value >> XShift;
            state[i] = value;
        }
        return state;
    }

    // An integer as little-endian 32-bit words (0 is one zero word).
    private static IEnumerable<uint> Words(ulong value)
    {
        if (value == 0)
        {
            yield return 0;
            yield break;
        }
        for (; value > 0; value >>= 32) yield return (uint)value;
    }

    private static uint HashMix(uint value, ref uint hashConst)
    {
        value ^= hashConst;
        hashConst *= MultA;
        value *= hashConst;
        return value ^ (value >> XShift);
    }

    private static uint Mix(uint x, uint y)
    {
        var result = MixMultL * x - MixMultR * y;
        return result ^ (result >> XShift);
    }
}
