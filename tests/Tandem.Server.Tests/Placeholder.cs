namespace Tandem.Server.Tests;
