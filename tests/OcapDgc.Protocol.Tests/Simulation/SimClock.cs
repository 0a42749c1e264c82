namespace OcapDgc.Protocol.Tests.Simulation;

/// <summary>The simulation's one clock: leases, timers and the reminder all read it; only steps move it.</summary>
public sealed class SimClock : TimeProvider
{
    public DateTimeOffset Now { get; private set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
