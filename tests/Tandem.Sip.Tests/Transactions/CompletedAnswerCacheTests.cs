using System.Text;
using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class CompletedAnswerCacheTests
{
    private static readonly TimeSpan TimerJ = TimeSpan.FromSeconds(32);

    private static TransactionKey Key(string branch, string sentBy = "192.0.2.7:5060", string method = "REGISTER")
    {
        Assert.True(TransactionKey.TryCreateServer(branch, sentBy, method, out var key));
        return key;
    }

    private static byte[] Answer(string text) => Encoding.ASCII.GetBytes(text);

    [Fact]
    public void Replays_the_answer_of_the_same_transaction_only()
    {
        var time = new FakeTimeProvider();
        var cache = new CompletedAnswerCache(time, TimerJ, capacity: 100);

        Assert.True(cache.TryAdd(Key("z9hG4bK-a"), Answer("SIP/2.0 200 OK a")));
        Assert.True(cache.TryAdd(Key("z9hG4bK-b"), Answer("SIP/2.0 200 OK b")));

        Assert.Equal(Answer("SIP/2.0 200 OK a"), cache.TryGetAnswer(Key("z9hG4bK-a")));
        Assert.Equal(Answer("SIP/2.0 200 OK b"), cache.TryGetAnswer(Key("z9hG4bK-b")));
        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-c")));
        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-a", sentBy: "192.0.2.8:5060")));
        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-a", method: "OPTIONS")));

        // The sent-by host compares case-insensitively, as transaction matching does.
        Assert.True(cache.TryAdd(Key("z9hG4bK-h", sentBy: "PC.Example.com:5060"), Answer("h")));
        Assert.Equal(Answer("h"), cache.TryGetAnswer(Key("z9hG4bK-h", sentBy: "pc.example.COM:5060")));
        Assert.Equal(3, cache.Count);
    }

    [Fact]
    public void Answers_expire_after_the_lifetime_and_their_segments_are_dropped()
    {
        var time = new FakeTimeProvider();
        var cache = new CompletedAnswerCache(time, TimerJ, capacity: 100);
        cache.TryAdd(Key("z9hG4bK-old"), Answer("old"));
        time.Advance(TimeSpan.FromSeconds(20));

        // Still inside Timer J.
        Assert.NotNull(cache.TryGetAnswer(Key("z9hG4bK-old")));
        time.Advance(TimeSpan.FromSeconds(12));
        cache.Expire();

        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-old")));
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.SegmentBytes);

        // A fresh entry after everything expired works as on a new cache.
        Assert.True(cache.TryAdd(Key("z9hG4bK-new"), Answer("new")));
        Assert.Equal(Answer("new"), cache.TryGetAnswer(Key("z9hG4bK-new")));
    }

    [Fact]
    public void Many_answers_span_segments_and_expire_oldest_segment_first()
    {
        var time = new FakeTimeProvider();
        var cache = new CompletedAnswerCache(time, TimerJ, capacity: 1_000_000);
        var answer = new byte[900];
        var perSegment = CompletedAnswerCache.SegmentSize / (900 + 40);

        // Three segments' worth now, three more 10 s later.
        for (var i = 0; i < perSegment * 3; i++)
        {
            answer[0] = (byte)i;
            Assert.True(cache.TryAdd(Key($"z9hG4bK-early-{i}"), answer));
        }

        time.Advance(TimeSpan.FromSeconds(10));
        for (var i = 0; i < perSegment * 3; i++)
        {
            answer[0] = (byte)i;
            Assert.True(cache.TryAdd(Key($"z9hG4bK-late-{i}"), answer));
        }

        Assert.True(cache.SegmentBytes >= 6L * CompletedAnswerCache.SegmentSize);
        Assert.Equal(17, cache.TryGetAnswer(Key("z9hG4bK-early-17"))![0]);

        time.Advance(TimeSpan.FromSeconds(25));
        cache.Expire();

        // The early ones are 35 s old: gone with their segments, except those sharing a segment with
        // late ones (a segment goes as a whole); the late ones are 25 s old and all still there.
        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-early-17")));
        Assert.InRange(cache.Count, perSegment * 3, perSegment * 4);
        Assert.Equal((byte)(perSegment * 2), cache.TryGetAnswer(Key($"z9hG4bK-late-{perSegment * 2}"))![0]);
    }

    [Fact]
    public void Refuses_when_full_or_too_large_so_the_caller_keeps_its_transaction()
    {
        var time = new FakeTimeProvider();
        var cache = new CompletedAnswerCache(time, TimerJ, capacity: 2);

        Assert.True(cache.TryAdd(Key("z9hG4bK-1"), Answer("one")));
        Assert.True(cache.TryAdd(Key("z9hG4bK-2"), Answer("two")));
        Assert.False(cache.TryAdd(Key("z9hG4bK-3"), Answer("three")));
        Assert.False(new CompletedAnswerCache(time, TimerJ, 10).TryAdd(Key("z9hG4bK-big"), new byte[CompletedAnswerCache.MaxAnswerSize + 1]));
        Assert.False(cache.TryAdd(Key("z9hG4bK-" + new string('x', 2000)), Answer("long key")));
        Assert.Null(cache.TryGetAnswer(Key("z9hG4bK-" + new string('x', 2000))));

        time.Advance(TimerJ);
        Assert.True(cache.TryAdd(Key("z9hG4bK-3"), Answer("three")));
        Assert.Equal(1, cache.Count);
    }
}
