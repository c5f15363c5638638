using Tandem.Server.Core;
using Tandem.Server.Routing;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;
using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;

namespace Tandem.Server.Proxy;

/// <summary>
/// A request being proxied statefully (RFC 3261 §16): runs the route plan's stages in order,
/// forks each stage's targets (by q-value groups for registered contacts), forwards provisional
/// and 2xx responses at once, CANCELs what is left when someone answers, and sends the caller
/// the best final response (§16.7 step 6) when nobody does.
/// </summary>
internal sealed class ProxyCall
{
    private readonly ProxyCore _core;
    private readonly Lock _gate = new();
    private readonly List<ProxyBranch> _branches = [];
    private readonly List<List<ProxyBranch>> _pendingGroups = [];
    private readonly RoutePlan _plan;
    private int _stage = -1;
    private int _stagesRun;
    private int _outstanding;
    private bool _answered;
    private bool _finished;
    private bool _cancelled;
    private bool _ringTimedOut;
    private int _bestStatus;
    private SipMessage? _bestResponse;
    private TimerHandle _ringTimer;

    public ProxyCall(ProxyCore core, SipMessage request, SipFlow inbound, ServerTransaction<SipPacket> server, RoutePlan plan, IReadOnlyList<string>? routes)
    {
        _core = core;
        _request = request;
        IsInvite = request.Method == SipMethod.Invite;
        CallId = request.CallId!;
        FromTag = request.From?.Tag ?? string.Empty;
        ResponseTarget = SipServerCore.ResponseTarget(request, inbound);
        Inbound = inbound;
        Server = server;
        _plan = plan;
        Routes = routes;
        LoopHash = Branches.LoopHash(request);
    }

    private SipMessage? _request;

    /// <summary>
    /// The request as received, until the call is answered or finished: after that no new branch is
    /// made, and keeping kilobytes per call for the 32 s of Timers L and M would cost more memory
    /// than the rest of the call's state.
    /// </summary>
    public SipMessage? Request => Volatile.Read(ref _request);

    /// <summary>Where responses to the caller go (RFC 3261 §18.2.2), worked out once.</summary>
    public System.Net.IPEndPoint ResponseTarget { get; }

    public SipFlow Inbound { get; }

    public ServerTransaction<SipPacket> Server { get; }

    /// <summary>Route set to send downstream, after our own entries were removed (route pre-processing, §16.4).</summary>
    public IReadOnlyList<string>? Routes { get; }

    public string LoopHash { get; }

    /// <summary>The caller authenticated to us: its Proxy-Authorization is consumed here.</summary>
    public bool ConsumedCredentials { get; init; }

    public bool IsInvite { get; }

    public string CallId { get; }

    public string FromTag { get; }

    public Task StartAsync() => NextStageAsync(StageOutcome.Any);

    /// <summary>Moves to the next stage if the plan allows it after <paramref name="outcome"/>; otherwise answers.</summary>
    private async Task NextStageAsync(StageOutcome outcome)
    {
        RouteStage stage;
        lock (_gate)
        {
            if (_finished || _answered || _cancelled)
            {
                return;
            }

            var canContinue = _stage < 0 || (_plan.Stages[_stage].ContinueOn & outcome) != 0;
            var next = _stage < 0 ? 0 : NextStageIndex(_plan.Stages[_stage], outcome);

            // A plan is a small graph (jumps for busy vs no-answer); never run more stages than it has twice over.
            if (!canContinue || next >= _plan.Stages.Count || ++_stagesRun > _plan.Stages.Count * 2)
            {
                FinishLocked();
                return;
            }

            _stage = next;
            stage = _plan.Stages[_stage];
            _ringTimedOut = false;
        }

        var groups = await _core.ExpandAsync(this, stage);
        var start = false;
        lock (_gate)
        {
            if (_finished || _answered || _cancelled)
            {
                return;
            }

            _pendingGroups.Clear();
            _pendingGroups.AddRange(groups);
            if (_pendingGroups.Count == 0)
            {
                // Nobody to ring in this stage (e.g. no registered contact): that is "unavailable".
                NoteFinal(480, null);
            }
            else
            {
                start = true;
                var ring = stage.RingTimeout ?? _core.MaxRingTime;
                _ringTimer.Cancel();
                _ringTimer = _core.Wheel.Schedule(_ => OnRingTimeout(), null, ring);
            }
        }

        if (start)
        {
            StartNextGroup(stage);
        }
        else
        {
            await NextStageAsync(StageOutcome.Unavailable);
        }
    }

    /// <summary>The stage a jump names for this outcome, else the one after the current.</summary>
    private int NextStageIndex(RouteStage current, StageOutcome outcome)
    {
        foreach (var jump in current.Jumps)
        {
            if ((jump.On & outcome) != 0)
            {
                return jump.Stage;
            }
        }

        return _stage + 1;
    }

    private void StartNextGroup(RouteStage stage)
    {
        List<ProxyBranch> group;
        lock (_gate)
        {
            if (_pendingGroups.Count == 0 || _finished || _answered || _cancelled)
            {
                return;
            }

            group = _pendingGroups[0];
            _pendingGroups.RemoveAt(0);
            _outstanding = group.Count;
            _branches.AddRange(group);
        }

        foreach (var branch in group)
        {
            _core.SendBranch(branch, stage.ResponseTimeout);
        }
    }

    /// <summary>A response (or a synthesised 408/503 for timeouts and transport errors) on a branch.</summary>
    public void OnBranchResponse(ProxyBranch branch, int status, SipMessage? response)
    {
        if (status < 200)
        {
            OnProvisional(branch, status, response);
            return;
        }

        if (status < 300)
        {
            OnSuccess(branch, response!);
            return;
        }

        RouteStage? stageToContinue = null;
        StageOutcome outcome = StageOutcome.None;
        var cancelOthers = false;
        lock (_gate)
        {
            if (branch.IsFinished)
            {
                return;
            }

            branch.FinalStatus = status;
            branch.ResponseTimer.Cancel();
            NoteFinal(status, response);
            _outstanding--;
            if (status >= 600)
            {
                // §16.7 step 5: a 6xx ends the search; cancel everything else.
                cancelOthers = true;
                _pendingGroups.Clear();
            }

            if (_outstanding > 0 || _answered)
            {
                if (!cancelOthers)
                {
                    return;
                }
            }
            else if (_pendingGroups.Count > 0 && !_ringTimedOut && !_cancelled && status < 600)
            {
                // Next q-value group of the same stage (sequential forking, §16.6).
                stageToContinue = _plan.Stages[_stage];
            }
            else
            {
                outcome = _ringTimedOut ? StageOutcome.NoAnswer : Classify(_bestStatus);
            }
        }

        if (cancelOthers)
        {
            CancelPending();
            lock (_gate)
            {
                if (_outstanding > 0)
                {
                    return;
                }
            }

            Finish();
            return;
        }

        if (stageToContinue is not null)
        {
            StartNextGroup(stageToContinue);
            return;
        }

        if (outcome != StageOutcome.None)
        {
            _ringTimer.Cancel();
            _ = NextStageAsync(outcome);
        }
    }

    private void OnProvisional(ProxyBranch branch, int status, SipMessage? response)
    {
        bool sendCancel;
        lock (_gate)
        {
            branch.GotProvisional = true;
            branch.ResponseTimer.Cancel();
            sendCancel = branch.CancelWanted && !branch.CancelSent && !branch.IsFinished;
            if (sendCancel)
            {
                branch.CancelSent = true;
            }
        }

        if (sendCancel)
        {
            _core.SendCancel(branch);
        }

        // 100 Trying is hop by hop (§16.7 step 5); other provisionals go to the caller.
        if (status > 100 && response is not null && !_finished && !_cancelled)
        {
            _core.ForwardProvisional(this, response);
        }
    }

    private void OnSuccess(ProxyBranch branch, SipMessage response)
    {
        bool first;
        lock (_gate)
        {
            first = !_answered;
            _answered = true;
            if (!branch.IsFinished)
            {
                branch.FinalStatus = response.StatusCode;
                branch.ResponseTimer.Cancel();
                _outstanding--;
            }

            _pendingGroups.Clear();
        }

        // Every 2xx goes to the caller, even from other forks (§16.7 step 5).
        _core.ForwardSuccess(this, response, first);
        if (first)
        {
            Volatile.Write(ref _request, null);
            _ringTimer.Cancel();
            CancelPending();
        }
    }

    private void OnRingTimeout()
    {
        lock (_gate)
        {
            if (_finished || _answered || _cancelled)
            {
                return;
            }

            _ringTimedOut = true;
            _pendingGroups.Clear();
        }

        CancelPending();
    }

    /// <summary>The caller sent CANCEL (§16.10): answer 487 and cancel every pending branch.</summary>
    public void Cancel()
    {
        lock (_gate)
        {
            if (_finished || _answered)
            {
                return;
            }

            _cancelled = true;
            _pendingGroups.Clear();
            _bestStatus = 487;
            _bestResponse = null;
        }

        _ringTimer.Cancel();
        CancelPending();
        Finish();
    }

    private void CancelPending()
    {
        List<ProxyBranch> toCancel = [];
        List<ProxyBranch> silent = [];
        lock (_gate)
        {
            foreach (var branch in _branches)
            {
                if (branch.IsFinished || branch.CancelWanted)
                {
                    continue;
                }

                branch.CancelWanted = true;

                // §9.1: a CANCEL may only follow a provisional response. A branch that has said
                // nothing yet is abandoned instead (its transaction stops retransmitting), so the
                // call does not wait 32 s for Timer B on a target that never answered.
                if (branch.GotProvisional)
                {
                    branch.CancelSent = true;
                    toCancel.Add(branch);
                }
                else if (IsInvite)
                {
                    silent.Add(branch);
                }
            }
        }

        foreach (var branch in toCancel)
        {
            _core.SendCancel(branch);
        }

        foreach (var branch in silent)
        {
            branch.Transaction?.Abort();
            OnBranchResponse(branch, 408, null);
        }
    }

    private void NoteFinal(int status, SipMessage? response)
    {
        if (_bestStatus == 0 || Rank(status) < Rank(_bestStatus))
        {
            _bestStatus = status;
            _bestResponse = response;
        }
    }

    /// <summary>Lower is better: 6xx, then 3xx, then 4xx (busy and auth first), then 5xx (§16.7 step 6).</summary>
    private static int Rank(int status) => status switch
    {
        >= 600 => 0,
        >= 300 and < 400 => 1,
        486 => 2,
        401 or 407 => 3,
        >= 400 and < 500 and not 408 and not 480 and not 404 and not 487 => 4,
        480 or 404 => 5,
        487 => 6,
        408 => 8,
        _ => 7,
    };

    private static StageOutcome Classify(int status) => status switch
    {
        486 or 600 => StageOutcome.Busy,
        404 or 480 => StageOutcome.Unavailable,
        408 or >= 500 and < 600 => StageOutcome.Failure,
        _ => StageOutcome.Rejected,
    };

    private void Finish()
    {
        lock (_gate)
        {
            FinishLocked();
        }
    }

    private void FinishLocked()
    {
        if (_finished || _answered)
        {
            return;
        }

        _finished = true;
        _ringTimer.Cancel();
        var status = _bestStatus == 0 ? 480 : _bestStatus;
        var response = _bestResponse;
        if (_ringTimedOut && !_cancelled && status == 487)
        {
            // Our own ring timeout cancelled the branches: the caller hears "no answer".
            status = 480;
            response = null;
        }

        _core.SendFinal(this, status, response, _ringTimedOut && !_cancelled, _cancelled);
        Volatile.Write(ref _request, null);
    }
}
