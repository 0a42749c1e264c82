using Microsoft.Extensions.Options;

namespace OcapDgc.Hosting;

/// <summary>
/// Checks <see cref="LeaseOptions"/> at start-up and names every value that is out of range, by its key,
/// and every pair of values that cannot work together.
/// </summary>
public sealed class LeaseOptionsValidator : IValidateOptions<LeaseOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LeaseOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Problems(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> Problems(LeaseOptions o)
    {
        const string section = LeaseOptions.Section;
        foreach (var (key, value) in new[] { (nameof(o.Duration), o.Duration), (nameof(o.PingInterval), o.PingInterval), (nameof(o.CheckPeriod), o.CheckPeriod) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return $"{section}:{key} must be positive (got {value}).";
            }
        }

        if (o.PingInterval * 2 > o.Duration)
        {
            yield return $"{section}:PingInterval ({o.PingInterval}) must be at most half of Lease ({o.Duration}), so one lost ping does not lapse a lease.";
        }

        if (o.PingInterval + o.CheckPeriod >= o.Duration)
        {
            yield return $"{section}:PingInterval + CheckPeriod ({o.PingInterval + o.CheckPeriod}) must be below Lease ({o.Duration}): a handle woken by its reminder must still ping in time.";
        }
    }
}
