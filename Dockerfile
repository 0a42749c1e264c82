# The silo host. Without arguments it runs the demo on the embedded profile and keeps serving the
# dashboard; docker-compose.yml runs it as a member of the PostgreSQL cluster profile instead.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/OcapDgc.Host -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 8080 11111 30000
ENTRYPOINT ["dotnet", "OcapDgc.Host.dll"]
CMD ["--keep-running", "--urls", "http://0.0.0.0:8080"]
