namespace Tandem.Cluster.Membership;

/// <summary>What receiving one authenticated heartbeat did.</summary>
internal readonly record struct ReceiveOutcome(ReplayVerdict Verdict, bool Urgent, bool ConfigMismatch);

/// <summary>
/// The failure detector, flap damping, quorum and ownership of one member, without sockets or
/// threads: <see cref="MembershipService"/> feeds it authenticated heartbeats and the time, so that
/// tests can drive it with a manual clock. Not thread-safe; the service serialises calls.
/// </summary>
internal sealed class MembershipCore
{
    /// <summary>Downs within this window count towards the hold-down of a flapping peer.</summary>
    public static readonly TimeSpan FlapWindow = TimeSpan.FromSeconds(60);

    /// <summary>The hold-down doubles per recent flap up to this many times the detection time.</summary>
    public const int MaxHoldDownFactor = 32;

    private readonly MembershipOptions _options;
    private readonly MemberTable _table;
    private readonly Member[] _members;
    private readonly TimeSpan _startedAt;
    private readonly List<MembershipEvent> _events = [];
    private readonly Dictionary<NodeId, OwnershipMember> _ownershipMembers = [];
    private readonly bool _twoNodeAlone;
    private readonly bool _fencing;
    private readonly List<FenceRequest> _fenceRequests = [];
    private ulong _sequence;
    private long _epoch;
    private bool _dirty = true;
    private byte _health;
    private string? _healthReason;
    private bool _healthy;
    private bool _selfEligible;
    private TimeSpan _selfEligibleSince;
    private bool _leaving;
    private ulong _desired;
    private ulong _reportedHeld;
    private bool _hasQuorum;
    private int _votersUp = 1;
    private MembershipView? _view;

    public MembershipCore(MembershipOptions options, MemberTable table, TimeSpan now, ulong incarnation, bool initiallyHealthy)
    {
        _options = options;
        _table = table;
        _startedAt = now;
        Incarnation = incarnation;
        _members = new Member[table.Count];
        for (var i = 1; i < table.Count; i++)
        {
            var links = options.IsWitness || table.Roles[i] == MemberRole.Witness ? 1 : table.Addresses[i].Count;
            _members[i] = new Member(links);
        }

        _health = initiallyHealthy ? (byte)100 : (byte)0;
        _healthy = initiallyHealthy;
        _healthReason = initiallyHealthy ? null : "not checked yet";
        _twoNodeAlone = table.Count == 2 && options.Witness is null && options.AllowTwoNodeWithoutWitness;
        _fencing = options.Fencing is not null && !options.IsWitness;
    }

    /// <summary>A failed fence of a peer is retried at most this often (no fork storm).</summary>
    public static readonly TimeSpan FenceRetryInterval = TimeSpan.FromSeconds(1);

    public ulong Incarnation { get; }

    public MemberTable Table => _table;

    /// <summary>Time after start before this node takes addresses, so that it has heard every live peer (and its claims) first.</summary>
    public TimeSpan SettleTime => _options.DetectionTime + _options.HeartbeatInterval;

    public bool HasQuorum => _hasQuorum;

    public ulong Desired => _desired;

    public bool Leaving => _leaving;

    /// <summary>Handles one heartbeat whose HMAC was checked.</summary>
    public ReceiveOutcome Receive(HeartbeatFrame frame, TimeSpan now, DateTimeOffset wallNow)
    {
        var m = _members[frame.Sender];
        var verdict = m.Replay.Check(frame.Incarnation, frame.Sequence, frame.SentAtUnixMs, now);
        if (verdict != ReplayVerdict.Accepted)
        {
            return new ReceiveOutcome(verdict, false, false);
        }

        var link = Math.Min((int)frame.Link, m.HeardAt.Length - 1);
        var wasHeard = m.HeardAt[link] is { } last && now - last <= _options.DetectionTime;
        m.HeardAt[link] = now;
        m.LastHeardWall = wallNow;

        var leaving = frame.Leaving;
        var urgent = !wasHeard
            || leaving != m.AnnouncesLeaving
            || frame.Holdings != m.Holdings
            || (frame.HealthScore >= HealthReport.HealthyThreshold) != (m.Health >= HealthReport.HealthyThreshold);
        if (urgent || frame.HealthScore != m.Health || frame.HasQuorum != m.ReportsQuorum)
        {
            _dirty = true;
        }

        m.AnnouncesLeaving = leaving;
        m.Holdings = frame.Holdings;
        m.Health = frame.HealthScore;
        m.ReportsQuorum = frame.HasQuorum;
        m.Sees = 0;
        for (var i = 0; i < frame.SeenCount; i++)
        {
            var j = frame.Seen[i];
            m.Sees |= 1UL << j;
            m.RelayedHoldings[j] = frame.SeenHoldings[i];
            m.RelayedHealth[j] = frame.SeenHealth[i];
        }

        return new ReceiveOutcome(verdict, urgent, frame.ConfigDigest != _table.ConfigDigest);
    }

    public void SetHealth(HealthReport report, TimeSpan now, DateTimeOffset wallNow)
    {
        if (report.IsHealthy != _healthy)
        {
            _events.Add(new MembershipEvent(MembershipEventKind.HealthChanged, wallNow,
                report.IsHealthy ? $"healthy again (score {report.Score})" : $"unhealthy (score {report.Score}): {report.Reason ?? "probe failed"}",
                _table.Ids[0]));
        }

        _dirty |= report.Score != _health || report.IsHealthy != _healthy;
        _health = report.Score;
        _healthy = report.IsHealthy;
        _healthReason = report.Reason;
    }

    /// <summary>Graceful stop: from now on this node holds nothing and says it is leaving.</summary>
    public void SetLeaving()
    {
        _dirty |= !_leaving;
        _leaving = true;
    }

    /// <summary>What the service-address manager actually holds; announced until let go, so that nobody takes an address early.</summary>
    public void ReportHeld(ulong held)
    {
        _dirty |= held != _reportedHeld;
        _reportedHeld = held;
    }

    /// <summary>Re-evaluates links, peers, quorum and ownership. Returns the events since the last call.</summary>
    public MembershipEvent[] Evaluate(TimeSpan now, DateTimeOffset wallNow, out MembershipView? changedView)
    {
        var detection = _options.DetectionTime;
        for (var i = 1; i < _members.Length; i++)
        {
            UpdateMember(i, _members[i], now, wallNow, detection);
        }

        // Quorum: a strict majority of the voters (every member is a voter), this node counted.
        var votersUp = 1;
        for (var i = 1; i < _members.Length; i++)
        {
            if (_members[i].State == MemberState.Up)
            {
                votersUp++;
            }
        }

        var quorum = votersUp * 2 > _table.Count || _twoNodeAlone;
        if (quorum != _hasQuorum || votersUp != _votersUp)
        {
            _dirty = true;
            if (quorum != _hasQuorum)
            {
                var reason = $"{votersUp} of {_table.Count} voters up ({string.Join(", ", UpIds())})";
                if (quorum && votersUp * 2 <= _table.Count)
                {
                    reason += "; two-node cluster without witness allowed to run alone";
                }

                _events.Add(new MembershipEvent(quorum ? MembershipEventKind.QuorumGained : MembershipEventKind.QuorumLost, wallNow, reason));
            }

            _hasQuorum = quorum;
            _votersUp = votersUp;
        }

        UpdateOwnership(now, wallNow);
        changedView = null;
        if (_dirty)
        {
            _dirty = false;
            _view = BuildView(wallNow);
            changedView = _view;
        }

        if (_events.Count == 0)
        {
            return [];
        }

        var events = _events.ToArray();
        _events.Clear();
        return events;
    }

    /// <summary>The latest view (built by <see cref="Evaluate"/>).</summary>
    public MembershipView View => _view ?? throw new InvalidOperationException("Evaluate has not run");

    /// <summary>Fills the heartbeat this node sends on <paramref name="link"/>.</summary>
    public void Fill(HeartbeatFrame frame, int link, long wallNowUnixMs)
    {
        frame.Sender = 0;
        frame.Flags = (_leaving ? HeartbeatFlags.Leaving : 0)
            | (_hasQuorum ? HeartbeatFlags.Quorum : 0)
            | (_options.IsWitness ? HeartbeatFlags.Witness : 0);
        frame.Link = (byte)link;
        frame.HealthScore = _health;
        frame.Incarnation = Incarnation;
        frame.Sequence = ++_sequence;
        frame.SentAtUnixMs = wallNowUnixMs;
        frame.Epoch = _epoch;
        frame.Holdings = _desired | _reportedHeld;
        frame.ConfigDigest = _table.ConfigDigest;
        frame.SeenCount = 0;
        for (var i = 1; i < _members.Length; i++)
        {
            if (_members[i].Heard)
            {
                frame.Seen[frame.SeenCount] = i;
                frame.SeenHoldings[frame.SeenCount] = _members[i].Holdings;
                frame.SeenHealth[frame.SeenCount] = _members[i].Health;
                frame.SeenCount++;
            }
        }
    }

    /// <summary>Hold-down of a peer that comes back after being down: detection time × 2^(downs in the last minute − 1), capped.</summary>
    public TimeSpan HoldDown(int index, TimeSpan now)
    {
        var m = _members[index];
        var downs = 0;
        foreach (var at in m.Downs)
        {
            if (at is { } t && now - t <= FlapWindow)
            {
                downs++;
            }
        }

        var factor = Math.Min(MaxHoldDownFactor, 1 << Math.Clamp(downs - 1, 0, 5));
        return _options.DetectionTime * factor;
    }

    private void UpdateMember(int index, Member m, TimeSpan now, DateTimeOffset wallNow, TimeSpan detection)
    {
        var id = _table.Ids[index];
        var anyUp = false;
        for (var l = 0; l < m.HeardAt.Length; l++)
        {
            var up = m.HeardAt[l] is { } at && now - at <= detection;
            if (up != m.LinkUp[l])
            {
                m.LinkUp[l] = up;
                _dirty = true;
                // A link of a member never heard is not news; the member's own events say enough when all go together.
                _events.Add(new MembershipEvent(up ? MembershipEventKind.LinkUp : MembershipEventKind.LinkDown, wallNow,
                    up ? "heartbeat received" : $"no heartbeat for {detection.TotalMilliseconds:0} ms", id, l));
            }

            anyUp |= up;
        }

        m.Heard = anyUp;
        var previous = m.State;
        if (anyUp && m.AnnouncesLeaving)
        {
            m.State = MemberState.Leaving;
            if (previous is MemberState.Up)
            {
                _events.Add(new MembershipEvent(MembershipEventKind.PeerDown, wallNow, "handover: announced a graceful stop", id));
            }
        }
        else if (!anyUp)
        {
            if (previous == MemberState.Up)
            {
                m.State = MemberState.Down;
                m.Downs[m.NextDown] = now;
                m.NextDown = (m.NextDown + 1) % m.Downs.Length;
                _events.Add(new MembershipEvent(MembershipEventKind.PeerDown, wallNow,
                    $"no heartbeat on any of {m.HeardAt.Length} link(s) for {detection.TotalMilliseconds:0} ms", id));
            }
            else if (previous == MemberState.HeldDown)
            {
                m.State = MemberState.Down;
            }
        }
        else
        {
            switch (previous)
            {
                case MemberState.Unknown:
                    m.State = MemberState.Up;
                    _events.Add(new MembershipEvent(MembershipEventKind.PeerUp, wallNow, "first heartbeat", id));
                    break;
                case MemberState.Leaving:
                    m.State = MemberState.Up;
                    _events.Add(new MembershipEvent(MembershipEventKind.PeerUp, wallNow, "back after a graceful stop", id));
                    break;
                case MemberState.Down:
                    m.State = MemberState.HeldDown;
                    m.CandidateSince = now;
                    break;
            }

            if (m.State == MemberState.HeldDown)
            {
                var holdDown = HoldDown(index, now);
                if (now - m.CandidateSince >= holdDown)
                {
                    m.State = MemberState.Up;
                    _events.Add(new MembershipEvent(MembershipEventKind.PeerUp, wallNow,
                        $"heard again for {holdDown.TotalMilliseconds:0} ms (flap damping)", id));
                }
            }
        }

        _dirty |= m.State != previous;
    }

    private void UpdateOwnership(TimeSpan now, DateTimeOffset wallNow)
    {
        if (_options.IsWitness)
        {
            return;
        }

        var selfEligible = _healthy && !_leaving && _hasQuorum && now - _startedAt >= SettleTime;
        if (selfEligible && !_selfEligible)
        {
            _selfEligibleSince = now;
        }

        _selfEligible = selfEligible;
        var members = _ownershipMembers;
        members[_table.Ids[0]] = new OwnershipMember(true, selfEligible, _selfEligibleSince, _desired | _reportedHeld);

        for (var i = 1; i < _members.Length; i++)
        {
            if (_table.Roles[i] == MemberRole.Witness)
            {
                continue;
            }

            var m = _members[i];
            bool known, eligible;
            ulong claims;
            if (m.Heard)
            {
                known = true;
                claims = m.Holdings;
                eligible = m.State == MemberState.Up && m.Health >= HealthReport.HealthyThreshold;
            }
            else
            {
                // Not heard here, but maybe by others (a cut link between two nodes): then it is alive,
                // and what they relay of it counts, so that nobody takes its addresses.
                known = false;
                claims = 0;
                byte health = 0;
                for (var j = 1; j < _members.Length; j++)
                {
                    var reporter = _members[j];
                    if (j != i && reporter.State == MemberState.Up && (reporter.Sees & (1UL << i)) != 0)
                    {
                        known = true;
                        claims |= reporter.RelayedHoldings[i];
                        health = Math.Max(health, reporter.RelayedHealth[i]);
                    }
                }

                eligible = known && health >= HealthReport.HealthyThreshold && m.State is MemberState.Up or MemberState.Down or MemberState.Unknown;
            }

            if (eligible && !m.Eligible)
            {
                m.EligibleSince = now;
            }

            m.Eligible = eligible;
            members[_table.Ids[i]] = new OwnershipMember(known, eligible, m.EligibleSince, claims);
            if (known)
            {
                // Alive again (or still): what it claims now is what a later fence must cover; an old fence no longer counts.
                m.LastKnownClaims = claims;
                m.FenceAttempts = 0;
                if (m.Fence is FenceStatus.Fenced or FenceStatus.Failed)
                {
                    m.Fence = FenceStatus.None;
                    _dirty = true;
                }
            }

            m.Known = known;
        }

        var desired = Ownership.Decide(new OwnershipInput
        {
            Self = _table.Ids[0],
            Members = members,
            Addresses = _options.ServiceAddresses,
            Failback = _options.Failback,
            Now = now,
        });

        if (_fencing)
        {
            desired = GateOnFencing(desired, now, wallNow);
        }

        if (desired == _desired)
        {
            return;
        }

        var changed = desired ^ _desired;
        for (var i = 0; i < _options.ServiceAddresses.Count; i++)
        {
            var bit = 1UL << i;
            if ((changed & bit) != 0)
            {
                var acquired = (desired & bit) != 0;
                _events.Add(new MembershipEvent(acquired ? MembershipEventKind.AddressAcquired : MembershipEventKind.AddressReleased, wallNow,
                    OwnershipReason(acquired), Address: _options.ServiceAddresses[i]));
            }
        }

        _desired = desired;
        _dirty = true;
    }

    /// <summary>
    /// Fencing (docs/cluster.md, "Fencing"): an address this node is about to take that a dead node
    /// (not known to be alive by anyone, not leaving gracefully) last claimed is held back until that
    /// node has been fenced. Starts at most one fence per peer at a time, and a failed one again only
    /// after <see cref="FenceRetryInterval"/>. Addresses nobody held, or handed over gracefully
    /// (the leaver's last heartbeats claim nothing), need no fence.
    /// </summary>
    private ulong GateOnFencing(ulong desired, TimeSpan now, DateTimeOffset wallNow)
    {
        var acquiring = desired & ~_desired;
        if (acquiring == 0)
        {
            return desired;
        }

        for (var i = 1; i < _members.Length; i++)
        {
            var m = _members[i];
            if (_table.Roles[i] == MemberRole.Witness || m.Known || m.State == MemberState.Leaving)
            {
                continue;
            }

            var stale = m.LastKnownClaims & acquiring;
            if (stale == 0 || m.Fence == FenceStatus.Fenced)
            {
                continue;
            }

            desired &= ~stale;
            if (m.Fence == FenceStatus.Running || now < m.NextFenceAt)
            {
                continue;
            }

            m.Fence = FenceStatus.Running;
            m.FenceAttempts++;
            _dirty = true;
            var addresses = Ownership.Select(_options.ServiceAddresses, m.LastKnownClaims);
            var request = new FenceRequest(_table.Ids[i], m.FenceAttempts, addresses, _table.Addresses[i]);
            _fenceRequests.Add(request);
            _events.Add(new MembershipEvent(MembershipEventKind.FenceStarted, wallNow,
                $"attempt {m.FenceAttempts}: it is down and last held {string.Join(", ", addresses.Select(a => a.Address))}", _table.Ids[i]));
        }

        return desired;
    }

    /// <summary>The fences <see cref="Evaluate"/> decided to start since the last call (the service runs them off the membership thread).</summary>
    public IReadOnlyList<FenceRequest> TakeFenceRequests()
    {
        if (_fenceRequests.Count == 0)
        {
            return [];
        }

        var requests = _fenceRequests.ToArray();
        _fenceRequests.Clear();
        return requests;
    }

    /// <summary>The outcome of a fence started by <see cref="TakeFenceRequests"/>; takeover proceeds at the next evaluation on success.</summary>
    public void FenceCompleted(NodeId member, bool succeeded, string detail, TimeSpan now, DateTimeOffset wallNow)
    {
        var index = _table.IndexOf(member);
        if (index < 1 || _members[index].Fence != FenceStatus.Running)
        {
            return;
        }

        var m = _members[index];
        m.Fence = succeeded ? FenceStatus.Fenced : FenceStatus.Failed;
        m.NextFenceAt = now + FenceRetryInterval;
        m.FenceDetail = detail;
        _dirty = true;
        _events.Add(new MembershipEvent(succeeded ? MembershipEventKind.FenceSucceeded : MembershipEventKind.FenceFailed, wallNow,
            succeeded ? $"fence command succeeded: {detail}" : $"fence command failed, retrying in {FenceRetryInterval.TotalSeconds:0} s: {detail}", member));
    }

    private string OwnershipReason(bool acquired)
    {
        if (acquired)
        {
            return $"this node is the first eligible holder ({_votersUp} of {_table.Count} voters up)";
        }

        return !_hasQuorum ? "quorum lost"
            : _leaving ? "leaving (graceful stop)"
            : !_healthy ? $"unhealthy: {_healthReason ?? "probe failed"}"
            : "another node holds it or takes it back (failback)";
    }

    private IEnumerable<string> UpIds()
    {
        yield return _table.Ids[0].Value;
        for (var i = 1; i < _members.Length; i++)
        {
            if (_members[i].State == MemberState.Up)
            {
                yield return _table.Ids[i].Value;
            }
        }
    }

    private MembershipView BuildView(DateTimeOffset wallNow)
    {
        var members = new List<MemberView>(_members.Length - 1);
        for (var i = 1; i < _members.Length; i++)
        {
            var m = _members[i];
            var holds = Ownership.Select(_options.ServiceAddresses, m.Heard ? m.Holdings : 0).Select(a => a.Address).ToList();
            members.Add(new MemberView(_table.Ids[i], _table.Roles[i], m.State, [.. m.LinkUp], m.Health, m.ReportsQuorum, holds,
                m.LastHeardWall == default ? null : m.LastHeardWall)
            {
                Fence = m.Fence,
                FenceDetail = m.FenceDetail,
                LastKnownClaims = Ownership.Select(_options.ServiceAddresses, m.LastKnownClaims).Select(a => a.Address).ToList(),
            });
        }

        return new MembershipView
        {
            Epoch = ++_epoch,
            Self = _table.Ids[0],
            At = wallNow,
            HasQuorum = _hasQuorum,
            VotersUp = _votersUp,
            Voters = _table.Count,
            Healthy = _healthy,
            HealthScore = _health,
            Leaving = _leaving,
            Members = members,
            Owned = Ownership.Select(_options.ServiceAddresses, _desired),
        };
    }

    private sealed class Member(int links)
    {
        public readonly TimeSpan?[] HeardAt = new TimeSpan?[links];
        public readonly bool[] LinkUp = new bool[links];
        public readonly ReplayWindow Replay = new();
        public readonly TimeSpan?[] Downs = new TimeSpan?[8];
        public readonly ulong[] RelayedHoldings = new ulong[MembershipOptions.MaxMembers];
        public readonly byte[] RelayedHealth = new byte[MembershipOptions.MaxMembers];
        public int NextDown;
        public MemberState State;
        public bool Heard;
        public bool AnnouncesLeaving;
        public ulong Holdings;
        public byte Health;
        public bool ReportsQuorum;
        public ulong Sees;
        public TimeSpan CandidateSince;
        public bool Eligible;
        public TimeSpan EligibleSince;
        public DateTimeOffset LastHeardWall;
        public bool Known;
        public ulong LastKnownClaims;
        public FenceStatus Fence;
        public TimeSpan NextFenceAt;
        public int FenceAttempts;
        public string? FenceDetail;
    }
}
