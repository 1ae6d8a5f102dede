using System.Security.Cryptography;
using McpBroker.Shared;

namespace McpBroker.Tests.Shared;

/// <summary>The managed SHA-256 the daemon and the shim use instead of OpenSSL's agrees with the platform's.</summary>
public sealed class Sha256Tests
{
    [Fact]
    public void HashData_EveryLengthUpTo200Bytes_EqualsThePlatformHash()
    {
        var random = new Random(11);
        for (var length = 0; length <= 200; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);

            Assert.Equal(SHA256.HashData(data), Sha256.HashData(data));
        }
    }

    [Fact]
    public void HashData_LargeInput_EqualsThePlatformHash()
    {
        var data = new byte[(3 << 20) + 61];
        new Random(12).NextBytes(data);

        Assert.Equal(SHA256.HashData(data), Sha256.HashData(data));
    }

    [Fact]
    public void HashData_KnownAnswer_Abc()
    {
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Convert.ToHexStringLower(Sha256.HashData("abc"u8)));
    }
}
