namespace Tandem.Cluster.Tests;
