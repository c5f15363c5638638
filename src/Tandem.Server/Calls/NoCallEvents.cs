namespace Tandem.Server.Calls;

/// <summary>Call events that go nowhere, for a server without call records.</summary>
public sealed class NoCallEvents : ICallEvents
{
    public static readonly NoCallEvents Instance = new();

    public void CallStarted(string callId, string fromTag, string caller, string callee, DateTimeOffset at)
    {
    }

    public void CallRinging(string callId, string fromTag, string toTag, DateTimeOffset at)
    {
    }

    public void CallAnswered(string callId, string fromTag, string toTag, DateTimeOffset at)
    {
    }

    public void CallFailed(string callId, string fromTag, int finalStatus, bool cancelled, DateTimeOffset at)
    {
    }

    public void CallEnded(string callId, string fromTag, string toTag, int byeStatus, DateTimeOffset at)
    {
    }
}
