# Registry hardening and audit policy for Windows Server 2022 images (CIS level 1 subset).
$ErrorActionPreference = 'Stop'

function Set-Reg([string]$Path, [string]$Name, $Value, [string]$Type = 'DWord') {
    if (-not (Test-Path $Path)) { New-Item -Path $Path -Force | Out-Null }
    Set-ItemProperty -Path $Path -Name $Name -Value $Value -Type $Type
}

# Strong cryptography for .NET Framework applications (TLS 1.2 and later).
foreach ($p in 'HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319',
               'HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319') {
    Set-Reg $p 'SchUseStrongCrypto' 1
    Set-Reg $p 'SystemDefaultTlsVersions' 1
}

# Schannel: no SSL 3.0, TLS 1.0 or TLS 1.1.
$protocols = 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols'
foreach ($proto in 'SSL 3.0', 'TLS 1.0', 'TLS 1.1') {
    foreach ($side in 'Server', 'Client') {
        Set-Reg "$protocols\$proto\$side" 'Enabled' 0
        Set-Reg "$protocols\$proto\$side" 'DisabledByDefault' 1
    }
}

# Credential protection: no WDigest plain-text credentials, LSA protection on.
Set-Reg 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\WDigest' 'UseLogonCredential' 0
Set-Reg 'HKLM:\SYSTEM\CurrentControlSet\Control\Lsa' 'RunAsPPL' 1
Set-Reg 'HKLM:\SYSTEM\CurrentControlSet\Control\Lsa' 'RestrictAnonymous' 1

# No AutoRun from removable media.
Set-Reg 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer' 'NoDriveTypeAutoRun' 255

# Audit policy: logons, account management, policy changes, process creation.
$audit = @(
    @('Logon', 'enable', 'enable'),
    @('Account Lockout', 'enable', 'enable'),
    @('User Account Management', 'enable', 'enable'),
    @('Security Group Management', 'enable', 'disable'),
    @('Audit Policy Change', 'enable', 'enable'),
    @('Process Creation', 'enable', 'disable')
)
foreach ($a in $audit) {
    auditpol.exe /set /subcategory:"$($a[0])" /success:$($a[1]) /failure:$($a[2]) | Out-Null
}
Set-Reg 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\Audit' 'ProcessCreationIncludeCmdLine_Enabled' 1

# Larger event logs so the CloudWatch agent or a forwarder has time to ship them.
wevtutil.exe sl Security /ms:268435456
wevtutil.exe sl System /ms:67108864
wevtutil.exe sl Application /ms:67108864
