using Npgsql;

namespace OcapDgc.Host;

/// <summary>
/// The cluster profile's database: reads its connection string in the forms people have at hand, and
/// checks before the silo starts that the server answers and the schema is there, so a mistake ends
/// with one clear message instead of a silo that retries forever.
/// </summary>
public static class PostgresConnection
{
    /// <summary>The ADO.NET invariant of Npgsql, as Orleans' providers name it.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>
    /// Connections one silo opens at most, unless the connection string says otherwise (<c>Maximum Pool Size</c>).
    /// Npgsql's own default (100) equals PostgreSQL's default <c>max_connections</c>, so one busy silo would
    /// take every connection of the server; several silos share it.
    /// </summary>
    public const int DefaultMaxPoolSize = 20;

    /// <summary>Every statement the clustering, grain-storage and reminder providers look up in <c>OrleansQuery</c>.</summary>
    public static readonly IReadOnlyList<string> RequiredQueryKeys =
    [
        "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey",
        "MembershipReadRowKey", "MembershipReadAllKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey",
        "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
        "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey", "DeleteStorageKey",
        "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key",
        "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    private static readonly string[] RequiredTables =
        ["orleansquery", "orleansmembershipversiontable", "orleansmembershiptable", "orleansstorage", "orleansreminderstable", "dgc_state", "dgc_state_version"];

    private static readonly Dictionary<string, string> LibpqKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        ["host"] = "Host",
        ["hostaddr"] = "Host",
        ["port"] = "Port",
        ["dbname"] = "Database",
        ["user"] = "Username",
        ["password"] = "Password",
        ["sslmode"] = "SSL Mode",
        ["connect_timeout"] = "Timeout",
        ["application_name"] = "Application Name",
    };

    /// <summary>
    /// Turns <paramref name="raw"/> into an Npgsql connection string, with a pool of at most
    /// <see cref="DefaultMaxPoolSize"/> connections unless it names its own. Accepts the Npgsql form
    /// (<c>Host=h;Database=d</c>), libpq's key=value form (<c>host=h dbname=d user=u</c>, values without
    /// spaces) and a <c>postgresql://user@host:port/db</c> URI.
    /// </summary>
    public static bool TryNormalize(string raw, out string connectionString, out string error)
    {
        ArgumentNullException.ThrowIfNull(raw);
        connectionString = "";
        error = "";
        var text = raw.Trim();
        try
        {
            NpgsqlConnectionStringBuilder builder;
            if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
            {
                builder = FromUri(new Uri(text));
            }
            else if (!text.Contains(';', StringComparison.Ordinal) && text.Contains(' ', StringComparison.Ordinal))
            {
                builder = FromLibpq(text);
            }
            else
            {
                builder = new NpgsqlConnectionStringBuilder(text);
            }

            if (string.IsNullOrWhiteSpace(builder.Host))
            {
                error = "The PostgreSQL connection string names no host.";
                return false;
            }

            // The builder writes the keywords it was given in canonical form (ContainsKey knows every keyword).
            if (!builder.ConnectionString.Contains("Maximum Pool Size=", StringComparison.OrdinalIgnoreCase))
            {
                builder.MaxPoolSize = DefaultMaxPoolSize;
            }

            connectionString = builder.ConnectionString;
            return true;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException or KeyNotFoundException)
        {
            error = $"The PostgreSQL connection string is not valid ({e.Message}). Use \"Host=h;Port=5432;Database=d;Username=u\", "
                + "\"host=h port=5432 dbname=d user=u\" or \"postgresql://u@h:5432/d\".";
            return false;
        }
    }

    /// <summary><c>host:port (database d, user u)</c>, for messages; never the password.</summary>
    public static string Describe(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host}:{b.Port} (database {b.Database ?? "(default)"}, user {b.Username ?? "(default)"})";
    }

    /// <summary>
    /// Opens one connection and checks the schema the providers need. Returns null when all is well,
    /// else a message that says what is wrong and what to do.
    /// </summary>
    public static async Task<string?> CheckAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var where = Describe(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Timeout = Math.Min(builder.Timeout, 10);
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            return $"PostgreSQL at {where} refused the connection: {e.MessageText} ({e.SqlState}). "
                + $"Check the database, user and password in {HostProfiles.ConnectionStringKey} / {HostProfiles.ConnectionStringVariable} (passwords: PGPASSWORD).";
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return $"Cannot reach PostgreSQL at {where}: {e.GetBaseException().Message}. "
                + $"Start the server, or fix {HostProfiles.ConnectionStringKey} / {HostProfiles.ConnectionStringVariable}.";
        }

        var missingTables = new List<string>();
        foreach (var table in RequiredTables)
        {
            await using var command = new NpgsqlCommand("SELECT to_regclass(@name) IS NOT NULL", connection);
            command.Parameters.AddWithValue("name", table);
            if (!(bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                missingTables.Add(table);
            }
        }

        const string Fix = "Apply the schema with scripts/pg-setup.sh (see silo-config/postgresql/README.md).";
        if (missingTables.Count > 0)
        {
            return $"The Orleans schema is missing in PostgreSQL at {where}: no table {string.Join(", ", missingTables)}. {Fix}";
        }

        var present = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("SELECT QueryKey FROM OrleansQuery", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                present.Add(reader.GetString(0));
            }
        }

        var missingKeys = RequiredQueryKeys.Where(k => !present.Contains(k)).ToList();
        return missingKeys.Count > 0
            ? $"The Orleans schema in PostgreSQL at {where} is incomplete: OrleansQuery lacks {string.Join(", ", missingKeys)}. {Fix}"
            : null;
    }

    private static NpgsqlConnectionStringBuilder FromLibpq(string text)
    {
        var builder = new NpgsqlConnectionStringBuilder();
        foreach (var token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"'{token}' is not key=value");
            }

            var key = token[..eq];
            if (!LibpqKeys.TryGetValue(key, out var npgsqlKey))
            {
                throw new FormatException($"libpq keyword '{key}' is not supported here");
            }

            builder[npgsqlKey] = token[(eq + 1)..];
        }

        return builder;
    }

    private static NpgsqlConnectionStringBuilder FromUri(Uri uri)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (uri.Port > 0)
        {
            builder.Port = uri.Port;
        }

        var database = uri.AbsolutePath.Trim('/');
        if (database.Length > 0)
        {
            builder.Database = Uri.UnescapeDataString(database);
        }

        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        return builder;
    }
}
