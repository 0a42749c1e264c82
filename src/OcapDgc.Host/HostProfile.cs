namespace OcapDgc.Host;

/// <summary>Where a silo keeps its state and finds the other silos.</summary>
public enum HostProfile
{
    /// <summary>One silo, localhost clustering, in-memory storage and reminders: no set-up at all.</summary>
    Embedded,

    /// <summary>A cluster of silos whose membership, DGC state and reminders live in PostgreSQL.</summary>
    Postgres,
}

/// <summary>Reads the profile and its settings from configuration (<c>Dgc:Profile</c>, <c>--profile</c>).</summary>
public static class HostProfiles
{
    /// <summary>Configuration key of the profile.</summary>
    public const string ProfileKey = "Dgc:Profile";

    /// <summary>Configuration key of the PostgreSQL connection string (environment: <c>ConnectionStrings__OcapDgc</c>).</summary>
    public const string ConnectionStringKey = "ConnectionStrings:OcapDgc";

    /// <summary>Environment variable read when <see cref="ConnectionStringKey"/> is not set; <c>scripts/pg-setup.sh</c> reads it too.</summary>
    public const string ConnectionStringVariable = "OCAPDGC_PG_CONNECTION";

    /// <summary>The profile named by <paramref name="value"/> (case-insensitive; empty means <see cref="HostProfile.Embedded"/>), or an error.</summary>
    public static bool TryParse(string? value, out HostProfile profile, out string error)
    {
        error = "";
        profile = HostProfile.Embedded;
        if (string.IsNullOrWhiteSpace(value))
        {
            return true;
        }

        if (Enum.TryParse(value.Trim(), ignoreCase: true, out profile) && Enum.IsDefined(profile))
        {
            return true;
        }

        error = $"{ProfileKey} (--profile) must be {string.Join(" or ", Enum.GetNames<HostProfile>())} (got '{value}').";
        return false;
    }

    /// <summary>
    /// The Npgsql connection string of the cluster profile: <see cref="ConnectionStringKey"/>, else the
    /// <see cref="ConnectionStringVariable"/> environment variable. Either may be in Npgsql form
    /// (<c>Host=h;Port=5432;Database=d;Username=u</c>) or libpq form (<c>host=h port=5432 dbname=d user=u</c>).
    /// Passwords belong in the environment (<c>PGPASSWORD</c>, or the variable itself), never in a file in the repository.
    /// </summary>
    public static bool TryGetConnectionString(IConfiguration configuration, out string connectionString, out string error)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var raw = configuration[ConnectionStringKey];
        if (string.IsNullOrWhiteSpace(raw))
        {
            raw = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        }

        connectionString = "";
        if (string.IsNullOrWhiteSpace(raw))
        {
            error = $"The Postgres profile needs a connection string: set {ConnectionStringKey} (environment ConnectionStrings__OcapDgc) "
                + $"or {ConnectionStringVariable}, e.g. \"Host=127.0.0.1;Port=5432;Database=orleans;Username=orleans\".";
            return false;
        }

        return PostgresConnection.TryNormalize(raw, out connectionString, out error);
    }
}
