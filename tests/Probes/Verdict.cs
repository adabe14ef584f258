namespace Diffusion.Probes;

/// <summary>How a probe reports: "ok: …" and exit 0 when the SDK behaved, "fail: …" and exit 1 when it did not.</summary>
internal static class Verdict
{
    public static int Ok(string message)
    {
        Console.WriteLine("ok: " + message);
        return 0;
    }

    public static int Fail(string message)
    {
        Console.WriteLine("fail: " + message);
        return 1;
    }
}
