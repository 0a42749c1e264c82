# The silo host. Built by docker-compose.yml; the demo runs once, then the silo keeps serving the dashboard.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/OcapDgc.Host -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 8080
ENTRYPOINT ["dotnet", "OcapDgc.Host.dll", "--keep-running", "--urls", "http://0.0.0.0:8080"]
