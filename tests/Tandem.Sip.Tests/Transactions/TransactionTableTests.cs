using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class TransactionTableTests
{
    private static TransactionKey Key(int i) => TransactionKey.ForClient($"z9hG4bK{i}", "OPTIONS");

    [Fact]
    public void Add_get_and_remove()
    {
        var table = new TransactionTable<object>(10);
        var tx = new object();
        Assert.Equal(TransactionAddResult.Added, table.TryAdd(Key(1), tx));
        Assert.True(table.TryGet(Key(1), out var found));
        Assert.Same(tx, found);
        Assert.Equal(1, table.Count);

        Assert.True(table.TryRemove(Key(1), tx));
        Assert.False(table.TryGet(Key(1), out _));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Duplicate_key_is_reported_and_not_counted()
    {
        var table = new TransactionTable<object>(10);
        table.TryAdd(Key(1), new object());
        Assert.Equal(TransactionAddResult.AlreadyExists, table.TryAdd(Key(1), new object()));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void Full_table_refuses_until_an_entry_is_removed()
    {
        var table = new TransactionTable<object>(2);
        var first = new object();
        table.TryAdd(Key(1), first);
        table.TryAdd(Key(2), new object());
        Assert.Equal(TransactionAddResult.Full, table.TryAdd(Key(3), new object()));
        Assert.Equal(2, table.Count);

        table.TryRemove(Key(1), first);
        Assert.Equal(TransactionAddResult.Added, table.TryAdd(Key(3), new object()));
    }

    [Fact]
    public void Remove_of_a_replaced_instance_leaves_the_newer_one()
    {
        var table = new TransactionTable<object>(10);
        var old = new object();
        var newer = new object();
        table.TryAdd(Key(1), old);
        table.TryRemove(Key(1), old);
        table.TryAdd(Key(1), newer);

        Assert.False(table.TryRemove(Key(1), old));
        Assert.True(table.TryGet(Key(1), out var found));
        Assert.Same(newer, found);
    }

    [Fact]
    public void Concurrent_adds_never_exceed_the_maximum()
    {
        var table = new TransactionTable<object>(1000);
        var added = 0;
        Parallel.For(0, 5000, i =>
        {
            if (table.TryAdd(Key(i), new object()) == TransactionAddResult.Added)
            {
                Interlocked.Increment(ref added);
            }
        });

        Assert.Equal(1000, added);
        Assert.Equal(1000, table.Count);
    }
}
