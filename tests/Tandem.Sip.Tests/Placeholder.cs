namespace Tandem.Sip.Tests;
