using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace OcapDgc.Host;

/// <summary>
/// Optional sign-in for the operator pages (the Orleans Dashboard at <c>/dashboard</c> and the DGC view at
/// <c>/dgc</c>): with <c>Dgc:Dashboard:User</c> and <c>Dgc:Dashboard:Password</c> set (the password from the
/// environment, <c>Dgc__Dashboard__Password</c>, not from a file in the repository), both require HTTP basic
/// authentication with those credentials; without them they are open, and listen on loopback only by default.
/// Use it behind TLS (a reverse proxy, or Kestrel with a certificate) when the pages listen beyond loopback.
/// </summary>
public static class DashboardAuthorization
{
    /// <summary>The authentication scheme's name.</summary>
    public const string Scheme = "DgcDashboard";

    /// <summary>Registers the scheme and authorization when both settings are present; returns a problem to report, if any.</summary>
    public static string? Add(WebApplicationBuilder builder, out bool enabled)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var (user, password) = (builder.Configuration["Dgc:Dashboard:User"], builder.Configuration["Dgc:Dashboard:Password"]);
        enabled = !string.IsNullOrEmpty(user) || !string.IsNullOrEmpty(password);
        if (!enabled)
        {
            return null;
        }

        if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password) || password.Length < 12)
        {
            return "Dgc:Dashboard:User and Dgc:Dashboard:Password must be set together, the password at least 12 characters (set it in the environment: Dgc__Dashboard__Password).";
        }

        builder.Services.AddAuthentication(Scheme).AddScheme<Credentials, BasicHandler>(Scheme, o => (o.User, o.Password) = (user, password));
        builder.Services.AddAuthorization();
        return null;
    }

    /// <summary>The configured credentials.</summary>
    public sealed class Credentials : AuthenticationSchemeOptions
    {
        /// <summary>The user name.</summary>
        public string User { get; set; } = "";

        /// <summary>The password.</summary>
        public string Password { get; set; } = "";
    }

    /// <summary>Checks an <c>Authorization: Basic</c> header against the credentials, in constant time; asks for them otherwise.</summary>
    public sealed class BasicHandler(IOptionsMonitor<Credentials> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<Credentials>(options, logger, encoder)
    {
        /// <inheritdoc />
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            string given;
            try
            {
                given = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            }
            catch (FormatException)
            {
                return Task.FromResult(AuthenticateResult.Fail("malformed credentials"));
            }

            var expected = $"{Options.User}:{Options.Password}";
            if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected)))
            {
                return Task.FromResult(AuthenticateResult.Fail("wrong credentials"));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, Options.User)], DashboardAuthorization.Scheme));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, DashboardAuthorization.Scheme)));
        }

        /// <inheritdoc />
        protected override Task HandleChallengeAsync(AuthenticationProperties properties)
        {
            Response.Headers.WWWAuthenticate = "Basic realm=\"ocap-dgc\", charset=\"UTF-8\"";
            return base.HandleChallengeAsync(properties);
        }
    }
}
