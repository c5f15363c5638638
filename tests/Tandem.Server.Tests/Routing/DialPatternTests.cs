using Tandem.Server.Routing;

namespace Tandem.Server.Tests.Routing;

public sealed class DialPatternTests
{
    private static DialPattern Parse(string text)
    {
        Assert.True(DialPattern.TryParse(text, out var pattern, out var error), error);
        return pattern!;
    }

    [Theory]
    [InlineData("112", "112", true)]
    [InlineData("112", "1120", false)]
    [InlineData("112", "11", false)]
    [InlineData("_X", "0", true)]
    [InlineData("_X", "9", true)]
    [InlineData("_X", "a", false)]
    [InlineData("_Z", "0", false)]
    [InlineData("_Z", "1", true)]
    [InlineData("_N", "1", false)]
    [InlineData("_N", "2", true)]
    [InlineData("_nxx", "200", true)]
    [InlineData("_[1-5a]", "3", true)]
    [InlineData("_[1-5a]", "a", true)]
    [InlineData("_[1-5a]", "6", false)]
    [InlineData("_[1-5a]", "A", false)]
    [InlineData("_0ZX.", "0301", true)]
    [InlineData("_0ZX.", "030", false)]
    [InlineData("_0ZX.", "0030", false)]
    [InlineData("_1NXX!", "1200", true)]
    [InlineData("_1NXX!", "12005551234", true)]
    [InlineData("_1NXX!", "120", false)]
    [InlineData("_+X.", "+4930123", true)]
    [InlineData("_+X.", "+4", false)]
    [InlineData("_+X.", "4930123", false)]
    [InlineData("_1-800-NXX-XXXX", "18002345678", true)]
    [InlineData("_1-800-NXX-XXXX", "1-800-234-5678", false)]
    [InlineData("_.", "x", true)]
    [InlineData("_.", "", false)]
    [InlineData("_*X#", "*5#", true)]
    public void Matches_like_asterisk(string pattern, string number, bool expected)
    {
        Assert.Equal(expected, Parse(pattern).Matches(number));
    }

    [Fact]
    public void Exact_patterns_treat_wildcard_letters_literally()
    {
        var exact = Parse("NXX");

        Assert.True(exact.IsExact);
        Assert.True(exact.Matches("NXX"));
        Assert.False(exact.Matches("234"));
        Assert.False(Parse("_NXX").IsExact);
    }

    [Theory]
    [InlineData("_X", 1)]
    [InlineData("_0ZX.", 4)]
    [InlineData("_1NXX!", 4)]
    [InlineData("112", 3)]
    [InlineData("_1-[2-3]", 2)]
    public void Minimum_length_counts_positions_and_the_dot(string pattern, int minLength)
    {
        Assert.Equal(minLength, Parse(pattern).MinLength);
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("_", "matches nothing")]
    [InlineData("_X.X", "'.' may only end a pattern")]
    [InlineData("_X!5", "'!' may only end a pattern")]
    [InlineData("_[12", "without a closing ']'")]
    [InlineData("_12]", "without an opening '['")]
    [InlineData("_[]", "empty set")]
    [InlineData("_[9-1]", "backwards")]
    [InlineData("_1 2", "whitespace")]
    public void Bad_patterns_are_rejected_with_a_reason(string pattern, string reason)
    {
        Assert.False(DialPattern.TryParse(pattern, out var parsed, out var error));
        Assert.Null(parsed);
        Assert.Contains(reason, error);
    }
}
