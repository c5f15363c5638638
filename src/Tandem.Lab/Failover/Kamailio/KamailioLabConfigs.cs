using System.Globalization;
using System.Net;
using System.Text;

namespace Tandem.Lab.Failover.Kamailio;

/// <summary>The per-node configuration files of the classic design: kamailio.cfg, keepalived.conf and the password table.</summary>
internal static class KamailioLabConfigs
{
    /// <summary>kamailio.cfg of one node.</summary>
    public static string Kamailio(KamailioLabOptions options, IPAddress node, IPAddress peer, string dbDirectory, string ctlSocket) =>
        KamailioTemplate
            .Replace("@@CHILDREN@@", options.Children.ToString(CultureInfo.InvariantCulture))
            .Replace("@@NODE_IP@@", node.ToString())
            .Replace("@@PEER_IP@@", peer.ToString())
            .Replace("@@VIP@@", options.ServiceAddress.ToString())
            .Replace("@@PORT@@", options.SipPort.ToString(CultureInfo.InvariantCulture))
            .Replace("@@DOMAIN@@", options.Domain)
            .Replace("@@DB_DIR@@", dbDirectory)
            .Replace("@@CTL_SOCKET@@", ctlSocket)
            .Replace("@@AUTH_INVITE@@", options.AuthenticateInvites ? "#!define AUTH_INVITE" : "# INVITEs are not challenged");

    /// <summary>
    /// keepalived.conf of one node: one VRRP instance on eth0 holding the VIP. As in the theses (digest 001 §3.1) the
    /// preferred node starts in state MASTER and the other in BACKUP, preempt on; with nopreempt both start as
    /// BACKUP (keepalived ignores nopreempt otherwise). Whole-second intervals use VRRPv2 like the theses;
    /// sub-second ones need VRRPv3, whose Master_Down_Interval (3 adverts + skew) scales with the interval.
    /// Two settings go beyond the theses' plain config, because the lab runs intervals down to 10 ms on a shared
    /// machine: realtime priority for the VRRP process, and gratuitous ARPs again when a spurious takeover ends.
    /// </summary>
    public static string Keepalived(KamailioLabOptions options, string node, bool preferred, int priority, IPAddress self, IPAddress peer)
    {
        var seconds = options.AdvertInterval.TotalSeconds;
        var version = seconds == Math.Floor(seconds) ? 2 : 3;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $$"""
            # keepalived for lab node {{node}} (written by KamailioKeepalivedSystem)
            global_defs {
              router_id lab-{{node}}
              vrrp_version {{version}}
              # Realtime scheduling for the VRRP process (keepalived asks for it with sub-second adverts): a late
              # advert on a busy machine otherwise makes the backup take over while the master is fine.
              max_auto_priority
              # When the master hears a lower-priority advert (a backup that took over by mistake and sent its
              # gratuitous ARPs) it sends its own again; without this the clients keep the backup's MAC for seconds.
              vrrp_garp_lower_prio_repeat 1
            }
            vrrp_instance SIP {
              state {{(preferred && options.Preempt ? "MASTER" : "BACKUP")}}
              interface eth0
              virtual_router_id {{options.VirtualRouterId}}
              priority {{priority}}
              advert_int {{seconds.ToString("0.##", CultureInfo.InvariantCulture)}}

            """);
        if (!options.Preempt)
        {
            text.Append("  nopreempt\n");
        }
        if (options.Unicast)
        {
            text.Append(CultureInfo.InvariantCulture, $"  unicast_src_ip {self}\n  unicast_peer {{\n    {peer}\n  }}\n");
        }
        text.Append(CultureInfo.InvariantCulture, $$"""
              virtual_ipaddress {
                {{options.ServiceAddress}}/{{options.PrefixLength}} dev eth0
              }
            }

            """);
        return text.ToString();
    }

    /// <summary>The db_text table htable loads: key "user@domain", value the plaintext password (pv_auth_check hashes it).</summary>
    public static string PasswordTable(KamailioLabOptions options)
    {
        var table = new StringBuilder("id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n");
        var id = 1;
        foreach (var (user, password) in options.Users)
        {
            table.Append(CultureInfo.InvariantCulture, $"{id++}:{user}@{options.Domain}:0:0:{password}:0\n");
        }
        return table.ToString();
    }

    public const string PasswordTableVersion = "table_name(string) table_version(int)\npasswords:2\n";

    private const string KamailioTemplate = """
#!KAMAILIO
#
# The classic HA design's SIP node for the failover lab (KamailioKeepalivedSystem):
# a registrar with digest auth and a record-routing stateful proxy, one per node,
# both listening on the service address (VIP) that keepalived moves between them,
# and replicating registrations to each other with DMQ + dmq_usrloc.
#
#   REGISTER          401 challenge, then save in the in-memory location table;
#                     dmq_usrloc sends every change to the peer node
#   INVITE (initial)  407 challenge (if AUTH_INVITE is defined), record_route,
#                     lookup("location"), t_relay
#   in-dialog         loose_route + t_relay (ACK, BYE ...); works on either node,
#                     because the Record-Route names the VIP, which both listen on
#   KDMQ              DMQ peer messages (node list, usrloc replication)
#   OPTIONS to us     200 (the lab's liveness probe)
#
# Template: KamailioKeepalivedSystem substitutes the @@NAME@@ placeholders.
#
# The VIP is configured on one node at a time, yet both must already listen on
# it: ip_free_bind sets IP_FREEBIND on the listening sockets, so binding an
# address that is not (yet) on an interface succeeds. That is per socket, so no
# namespace-wide net.ipv4.ip_nonlocal_bind sysctl is needed. listen=0.0.0.0 is
# no alternative: Kamailio expands it to the addresses present at start-up,
# and the standby does not have the VIP then.

@@AUTH_INVITE@@

debug=1
log_stderror=yes
log_facility=LOG_LOCAL0
fork=yes
children=@@CHILDREN@@
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
ip_free_bind=1
listen=udp:@@NODE_IP@@:@@PORT@@
listen=udp:@@VIP@@:@@PORT@@
alias=@@DOMAIN@@

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "htable.so"
loadmodule "auth.so"
loadmodule "dmq.so"
loadmodule "dmq_usrloc.so"
loadmodule "ctl.so"

modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", 1)
modparam("usrloc", "timer_interval", 1)
modparam("registrar", "min_expires", 1)
modparam("registrar", "default_expires", 3600)
modparam("registrar", "max_contacts", 16)

modparam("htable", "db_url", "text://@@DB_DIR@@")
modparam("htable", "htable", "passwords=>size=8;dbtable=passwords;")

modparam("auth", "nonce_expire", 300)

modparam("rr", "append_fromtag", 1)
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)

# kamcmd talks to this node through a unix socket in its run directory.
modparam("ctl", "binrpc", "unix:@@CTL_SOCKET@@")

# DMQ: this node's DMQ address, and the peer it asks for the node list at start-up.
# Pings find a dead or returned peer within ping_interval seconds.
modparam("dmq", "server_address", "sip:@@NODE_IP@@:@@PORT@@")
modparam("dmq", "notification_address", "sip:@@PEER_IP@@:@@PORT@@")
modparam("dmq", "num_workers", 2)
modparam("dmq", "ping_interval", 5)
# Every usrloc change goes to the peer; a (re)starting node asks for a full copy.
modparam("dmq_usrloc", "enable", 1)
modparam("dmq_usrloc", "sync", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}

	# DMQ messages from the peer node only.
	if (is_method("KDMQ")) {
		if ($si == "@@PEER_IP@@" || $si == "@@NODE_IP@@") {
			dmq_handle_message();
		} else {
			sl_send_reply("403", "Forbidden");
		}
		exit;
	}

	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "OK");
		exit;
	}

	if (has_totag()) {
		if (loose_route()) {
			route(RELAY);
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				route(RELAY);
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}

	if (t_precheck_trans()) {
		t_check_trans();
		exit;
	}
	t_check_trans();

	if (is_method("REGISTER")) {
		if (!pv_auth_check("$fd", "$sht(passwords=>$fU@$fd)", "0", "1")) {
			auth_challenge("$fd", "1");
			exit;
		}
		consume_credentials();
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}

	if (!is_method("INVITE")) {
		sl_send_reply("405", "Method Not Allowed");
		exit;
	}

#!ifdef AUTH_INVITE
	if (!pv_auth_check("$fd", "$sht(passwords=>$fU@$fd)", "0", "1")) {
		auth_challenge("$fd", "1");
		exit;
	}
	consume_credentials();
#!endif

	record_route();

	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	route(RELAY);
	exit;
}

route[RELAY] {
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}
""";
}
