namespace OcapDgc.Host;

/// <summary>The main job's workload. Bound from <c>Demo</c>; <c>--refs N</c> overrides <see cref="Refs"/>.</summary>
public sealed class DemoOptions
{
    /// <summary>Distinct references the two kernels export to each other in all.</summary>
    public int Refs { get; set; } = 100_000;

    /// <summary>References per application message.</summary>
    public int MessageSize { get; set; } = 500;

    /// <summary>Where the demo writes its SVG chart of live and reclaimed refs (relative to the current folder).</summary>
    public string ChartFolder { get; set; } = "demo-runs";

    /// <summary>Cycles the <c>--cycles</c> part builds and must see reclaimed.</summary>
    public int Cycles { get; set; } = 100;

    /// <summary>Names every value that is out of range.</summary>
    public IEnumerable<string> Validate()
    {
        if (Refs is < 10 or > 10_000_000)
        {
            yield return $"Demo:Refs must be 10-10000000 (got {Refs}).";
        }

        if (Cycles is < 1 or > 10_000)
        {
            yield return $"Demo:Cycles must be 1-10000 (got {Cycles}).";
        }

        if (MessageSize is < 1 or > 100_000)
        {
            yield return $"Demo:MessageSize must be 1-100000 (got {MessageSize}).";
        }
    }
}
