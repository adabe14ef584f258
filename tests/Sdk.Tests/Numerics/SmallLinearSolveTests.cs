using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// <see cref="SmallLinearSolve"/> against <c>torch.linalg.solve</c> (torch 1.13, Debian's netlib LAPACK) on UniPC-shaped
/// systems (rows 1, r, r²): bit for bit in both of torch's orders, which differ from each other in the last bits.
/// </summary>
[TestFixture]
public sealed class SmallLinearSolveTests
{
    // R, b, then torch's x for a contiguous R (it factors Rᵀ) and for a non-contiguous R (it factors R).
    private static readonly (float[] R, float[] B, float[] Transposed, float[] Plain)[] Systems =
    [
        ([1f, 1f, 1f, 1.8300175666809082f, 1.8476446866989136f, 1f, 3.348964214324951f, 3.4137909412384033f, 1f],
         [0.030651122331619263f, -0.4283972382545471f, -0.8921386003494263f],
         [-26.27422523498535f, 25.1862850189209f, 1.1185920238494873f],
         [-26.27403450012207f, 25.186098098754883f, 1.118585228919983f]),
        ([1f, 1f, 1f, 0.9142146706581116f, -1.592938780784607f, 1f, 0.8357884883880615f, 2.5374538898468018f, 1f],
         [-0.1301048994064331f, 0.9483723640441895f, 0.7953552007675171f],
         [-7.276144981384277f, -0.17520305514335632f, 7.3212432861328125f],
         [-7.2761454582214355f, -0.17520304024219513f, 7.3212432861328125f]),
    ];

    [Test]
    public void MatchesTorchInBothOrders([Values(0, 1)] int system, [Values] bool transposed)
    {
        var (r, b, t, p) = Systems[system];
        var a = r.ToArray();
        var x = b.ToArray();
        SmallLinearSolve.Solve(a, x, transposed);
        Assert.That(x, Is.EqualTo(transposed ? t : p));
    }

    [Test]
    public void SolvesATwoByTwoSystemExactly()
    {
        // [1 1; 2 4]·x = [3, 10] → x = (1, 2), exact in float32 in either order.
        foreach (var transposed in new[] { false, true })
        {
            float[] a = [1, 1, 2, 4], x = [3, 10];
            SmallLinearSolve.Solve(a, x, transposed);
            Assert.That(x, Is.EqualTo(new[] { 1f, 2f }), transposed ? "transposed" : "plain");
        }
    }

    [Test]
    public void RefusesAMatrixOfTheWrongSize() =>
        Assert.Throws<ArgumentException>(() => SmallLinearSolve.Solve(new float[4], new float[3], transposed: false));
}
