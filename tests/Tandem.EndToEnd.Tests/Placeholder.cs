namespace Tandem.EndToEnd.Tests;
