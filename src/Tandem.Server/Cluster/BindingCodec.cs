using System.Text.Json;
using System.Text.Json.Serialization;
using Tandem.Storage;

namespace Tandem.Server.Cluster;

/// <summary>The value of a replicated "binding" record: the <see cref="Binding"/> as compact JSON; key = aor + "\n" + contact.</summary>
public static class BindingCodec
{
    public const string Kind = "binding";

    public static string Key(string aor, string contactUri) => aor + "\n" + contactUri;

    public static byte[] Encode(Binding binding) => JsonSerializer.SerializeToUtf8Bytes(binding, BindingJsonContext.Default.Binding);

    public static Binding? Decode(ReadOnlySpan<byte> value)
    {
        try
        {
            return JsonSerializer.Deserialize(value, BindingJsonContext.Default.Binding);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Binding))]
[JsonSerializable(typeof(Tandem.Server.Calls.DialogRecord))]
internal sealed partial class BindingJsonContext : JsonSerializerContext;
