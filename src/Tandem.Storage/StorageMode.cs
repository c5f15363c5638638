namespace Tandem.Storage;

/// <summary>When a registrar binding change reaches the disk. See docs/storage.md.</summary>
public enum StorageMode
{
    /// <summary>
    /// Changes are queued and written in one transaction per flush interval. A crash (process kill,
    /// power loss) loses the binding changes acknowledged during the last flush interval that had not
    /// been written yet; subscribers are always written through.
    /// </summary>
    WriteBehind,

    /// <summary>
    /// Every change is committed and fsynced before the call returns (changes arriving together
    /// share one commit). A crash loses nothing that was acknowledged. The default.
    /// </summary>
    WriteThrough,
}
