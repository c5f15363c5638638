namespace Tandem.Storage;

/// <summary>The store cannot be used as it is (e.g. its schema is newer than this build).</summary>
public sealed class StorageException : Exception
{
    public StorageException()
    {
    }

    public StorageException(string message)
        : base(message)
    {
    }

    public StorageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
